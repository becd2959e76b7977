package filings

import (
	"fmt"
	"strings"
	"time"
)

// form is an MCA e-form type: how often companies file it, since when, in
// which months, and how its particular fields are rendered.
type form struct {
	code, title, basis string
	since              int // first calendar year the form was in use
	weight             int // relative frequency of random draws; 0 for forms placed explicitly
	perYear            int // most filings in a calendar year, one per month of months when above 1; 0 for no limit
	months             []time.Month
	body               func(s *sheet, c *company, f filing, g *gen)
}

var anyMonth = []time.Month{
	time.January, time.February, time.March, time.April, time.May, time.June,
	time.July, time.August, time.September, time.October, time.November, time.December,
}

var forms = []form{
	{"AOC-4", "Form for filing financial statement and other documents with the Registrar",
		"section 137 of the Companies Act, 2013 and rule 12(1) of the Companies (Accounts) Rules, 2014",
		2014, 0, 1, []time.Month{time.October, time.November}, financialStatements},
	{"AOC-4 XBRL", "Form for filing XBRL document in respect of financial statement and other documents with the Registrar",
		"section 137 of the Companies Act, 2013 and rule 12(2) of the Companies (Accounts) Rules, 2014",
		2014, 0, 1, []time.Month{time.October, time.November}, financialStatements},
	{"MGT-7", "Annual return (other than OPCs and small companies)",
		"section 92(1) of the Companies Act, 2013 and rule 11(1) of the Companies (Management and Administration) Rules, 2014",
		2014, 0, 1, []time.Month{time.November, time.December}, annualReturn},
	{"MGT-7A", "Abridged annual return for OPCs and small companies",
		"section 92(1) of the Companies Act, 2013 and rule 11(1) of the Companies (Management and Administration) Rules, 2014",
		2021, 0, 1, []time.Month{time.November, time.December}, annualReturn},
	{"ADT-1", "Notice to the Registrar by company for appointment of auditor",
		"section 139 of the Companies Act, 2013 and rule 4(2) of the Companies (Audit and Auditors) Rules, 2014",
		2014, 3, 1, []time.Month{time.September, time.October}, auditorAppointment},
	{"DIR-12", "Particulars of appointment of directors and the key managerial personnel and the changes amongst them",
		"sections 7(1)(c), 168 and 170(2) of the Companies Act, 2013 and rules 17 and 18 of the Companies (Appointment and Qualification of Directors) Rules, 2014",
		2014, 10, 0, anyMonth, directorChange},
	{"DIR-3 KYC", "KYC of directors",
		"rule 12A of the Companies (Appointment and Qualification of Directors) Rules, 2014",
		2018, 8, 1, []time.Month{time.September}, directorKYC},
	{"CHG-1", "Application for registration of creation or modification of charge",
		"sections 77 and 78 of the Companies Act, 2013 and rule 3 of the Companies (Registration of Charges) Rules, 2014",
		2014, 6, 0, anyMonth, chargeCreation},
	{"CHG-4", "Particulars for satisfaction of charge",
		"section 82 of the Companies Act, 2013 and rule 8 of the Companies (Registration of Charges) Rules, 2014",
		2014, 3, 0, anyMonth, chargeSatisfaction},
	{"INC-22", "Notice of situation or change of situation of registered office",
		"section 12 of the Companies Act, 2013 and rules 25 and 27 of the Companies (Incorporation) Rules, 2014",
		2014, 2, 0, anyMonth, registeredOffice},
	{"INC-20A", "Declaration for commencement of business",
		"section 10A of the Companies Act, 2013 and rule 23A of the Companies (Incorporation) Rules, 2014",
		2019, 0, 0, anyMonth, commencement},
	{"PAS-3", "Return of allotment",
		"sections 39(4) and 42(9) of the Companies Act, 2013 and rules 12 and 14 of the Companies (Prospectus and Allotment of Securities) Rules, 2014",
		2014, 4, 0, anyMonth, allotment},
	{"SH-7", "Notice to Registrar of any alteration of share capital",
		"section 64(1) of the Companies Act, 2013",
		2014, 2, 0, anyMonth, capitalAlteration},
	{"MGT-14", "Filing of resolutions and agreements to the Registrar",
		"sections 94(1), 117(1) and 179(3) of the Companies Act, 2013",
		2014, 8, 0, anyMonth, resolution},
	{"DPT-3", "Return of deposits",
		"rules 16 and 16A of the Companies (Acceptance of Deposits) Rules, 2014",
		2019, 6, 1, []time.Month{time.May, time.June}, deposits},
	{"MSME-1", "Half-yearly return on outstanding payments to micro or small enterprises",
		"section 405 of the Companies Act, 2013",
		2019, 8, 2, []time.Month{time.April, time.October}, msmeDues},
	{"BEN-2", "Return to the Registrar in respect of declaration of significant beneficial ownership",
		"section 90(4) of the Companies Act, 2013 and rule 4 of the Companies (Significant Beneficial Owners) Rules, 2018",
		2019, 2, 0, anyMonth, beneficialOwner},
}

// FormTypes returns the MCA form types the simulation files, which are the
// values of Document.DocumentType for filings jobs.
func FormTypes() []string {
	out := make([]string, len(forms))
	for i, f := range forms {
		out[i] = f.code
	}
	return out
}

func formByCode(code string) *form {
	for i := range forms {
		if forms[i].code == code {
			return &forms[i]
		}
	}
	panic("filings: unknown form " + code)
}

// render returns the text of filing f of company c. g is the document's own
// generator, so that figures differ between documents of one company.
func render(c *company, f filing, g *gen) []byte {
	s := &sheet{}
	s.printf("GOVERNMENT OF INDIA - MINISTRY OF CORPORATE AFFAIRS\n")
	s.printf("FORM NO. %s\n%s\n", f.form.code, f.form.title)
	s.wrap("[Pursuant to " + f.form.basis + "]")
	s.printf("\n")
	s.field("Service request number (SRN)", f.srn)
	s.field("Date of filing", day(f.date))
	if f.revision > 0 {
		s.field("Revised filing", fmt.Sprintf("revision %d, filed %s", f.revision, day(f.revised)))
	}
	s.field("Registrar of Companies", c.state.roc)

	s.section("PART I - PARTICULARS OF THE COMPANY")
	s.field("Corporate identity number (CIN)", c.cfg.CIN)
	s.field("Name of the company", c.cfg.CompanyName)
	s.field("Registered office", c.address)
	s.field("Date of incorporation", day(c.incorporated))
	s.field("Class of company", className(c.public))
	s.field("Listed on a stock exchange", yesNo(c.listed))
	s.field("Principal business activity", c.industry.desc+" (NIC "+c.industry.nic+")")

	f.form.body(s, c, f, g)

	signer := c.directors[0]
	s.section("DECLARATION")
	s.wrap(fmt.Sprintf("I am authorised by the Board of Directors of the company vide resolution number %d dated %s "+
		"to sign this form and declare that all the requirements of the Companies Act, 2013 and the rules made "+
		"thereunder in respect of the subject matter of this form and matters incidental thereto have been complied with.",
		g.between(1, 40), day(f.date.AddDate(0, 0, -g.between(3, 30)))))
	s.field("Digitally signed by", signer.name)
	s.field("Designation", signer.designation)
	s.field("DIN", signer.din)
	s.printf("\n-- Simulated record generated by intake from the CIN; not an official MCA document. --\n")
	return s.Bytes()
}

// financialYear returns the financial year (April to March) whose accounts
// or returns a filing made in the calendar year of d covers.
func financialYear(d time.Time) (from, to time.Time, label string) {
	end := d.Year()
	if d.Month() <= time.March {
		end--
	}
	from = time.Date(end-1, time.April, 1, 0, 0, 0, 0, time.UTC)
	to = time.Date(end, time.March, 31, 0, 0, 0, 0, time.UTC)
	return from, to, fmt.Sprintf("%d-%02d", end-1, end%100)
}

func financialStatements(s *sheet, c *company, f filing, g *gen) {
	from, to, fy := financialYear(f.date)
	revenue := round(c.paidUp * int64(g.between(5, 80)) / 10)
	other := round(revenue * int64(g.between(1, 5)) / 100)
	expenses := round(revenue * int64(g.between(82, 98)) / 100)
	pbt := revenue + other - expenses
	tax := max(0, round(pbt*25/100))
	reserves := round(c.paidUp * int64(g.between(2, 30)) / 10)
	borrowings := round(revenue * int64(g.between(5, 40)) / 100)
	payables := round(revenue * int64(g.between(5, 20)) / 100)
	otherLiab := round(revenue * int64(g.between(2, 10)) / 100)
	total := c.paidUp + reserves + borrowings + payables + otherLiab
	ppe := round(total * int64(g.between(30, 50)) / 100)
	invest := round(total * int64(g.between(2, 10)) / 100)
	stock := round(total * int64(g.between(5, 15)) / 100)
	receivables := round(total * int64(g.between(5, 15)) / 100)
	cash := total - ppe - invest - stock - receivables

	s.section("PART II - FINANCIAL STATEMENTS FOR FY " + fy)
	s.field("Period", day(from)+" to "+day(to))
	s.field("Date of board meeting approving accounts", day(to.AddDate(0, 0, g.between(40, 120))))
	s.field("Date of annual general meeting", day(f.date.AddDate(0, 0, -g.between(10, 28))))
	s.field("Statutory auditor", c.auditor+" (FRN "+c.auditorFRN+")")
	s.printf("\nBalance sheet as at %s\n", day(to))
	s.field("Share capital", inr(c.paidUp))
	s.field("Reserves and surplus", inr(reserves))
	s.field("Long-term borrowings", inr(borrowings))
	s.field("Trade payables", inr(payables))
	s.field("Other current liabilities", inr(otherLiab))
	s.field("TOTAL EQUITY AND LIABILITIES", inr(total))
	s.field("Property, plant and equipment", inr(ppe))
	s.field("Non-current investments", inr(invest))
	s.field("Inventories", inr(stock))
	s.field("Trade receivables", inr(receivables))
	s.field("Cash and cash equivalents", inr(cash))
	s.field("TOTAL ASSETS", inr(total))
	s.printf("\nStatement of profit and loss for FY %s\n", fy)
	s.field("Revenue from operations", inr(revenue))
	s.field("Other income", inr(other))
	s.field("Total expenses", inr(expenses))
	s.field("Profit before tax", inr(pbt))
	s.field("Tax expense", inr(tax))
	s.field("Profit for the year", inr(pbt-tax))
	if f.form.code == "AOC-4 XBRL" {
		s.printf("\nXBRL\n")
		s.field("Taxonomy", "Ind AS taxonomy (commercial and industrial)")
		s.field("Instance document validated", "Yes")
		s.field("Number of elements tagged", g.between(900, 2400))
	}
}

func annualReturn(s *sheet, c *company, f filing, g *gen) {
	from, to, fy := financialYear(f.date)
	members := g.between(2, 180)
	if c.listed {
		members = g.between(1_500, 90_000)
	}
	s.section("PART II - ANNUAL RETURN FOR FY " + fy)
	s.field("Period", day(from)+" to "+day(to))
	s.field("Date of annual general meeting", day(f.date.AddDate(0, 0, -g.between(20, 55))))
	s.field("Category of company", "Company limited by shares")
	s.field("Authorised share capital", inr(c.authorised))
	s.field("Paid-up share capital", inr(c.paidUp))
	s.field("Equity shares of INR 10 each", c.paidUp/10)
	s.field("Number of members", members)
	s.field("Board meetings held during the year", g.between(4, 9))
	s.field("Turnover", inr(round(c.paidUp*int64(g.between(5, 80))/10)))
	if f.form.code == "MGT-7A" {
		return
	}
	s.printf("\nDirectors and key managerial personnel at the end of the year\n")
	for i, d := range c.directors {
		s.printf("  %d. %-32s DIN %s  %s\n", i+1, d.name, d.din, d.designation)
	}
}

func auditorAppointment(s *sheet, c *company, f filing, g *gen) {
	_, to, _ := financialYear(f.date)
	s.section("PART II - APPOINTMENT OF AUDITOR")
	s.field("Nature of appointment", pick(g, []string{"Appointment at annual general meeting", "Re-appointment at annual general meeting"}))
	s.field("Category of auditor", "Auditor's firm")
	s.field("Name of the firm", c.auditor)
	s.field("Firm registration number", c.auditorFRN)
	s.field("Period of appointment", day(to.AddDate(0, 0, 1))+" to "+day(to.AddDate(5, 0, 0))+" (five financial years)")
	s.field("Date of annual general meeting", day(f.date.AddDate(0, 0, -g.between(3, 14))))
	s.field("Written consent of the auditor attached", "Yes")
}

func directorChange(s *sheet, c *company, f filing, g *gen) {
	d := pick(g, c.directors)
	purpose := pick(g, []string{"Appointment", "Change in designation", "Cessation"})
	if purpose == "Appointment" {
		d = person{name: pick(g, firstNames) + " " + pick(g, lastNames), din: "0" + g.digits(7), designation: pick(g, []string{"Additional Director", "Independent Director", "Company Secretary"})}
	}
	s.section("PART II - PARTICULARS OF DIRECTORS AND KEY MANAGERIAL PERSONNEL")
	s.field("Purpose of the form", purpose)
	s.field("Name", d.name)
	s.field("DIN", d.din)
	s.field("Designation", d.designation)
	s.field("Category", pick(g, []string{"Promoter, executive", "Professional, non-executive", "Independent, non-executive"}))
	s.field("Date of event", day(f.date.AddDate(0, 0, -g.between(5, 29))))
	switch purpose {
	case "Appointment":
		s.field("Reason", "Appointed by the Board under section 161(1)")
	case "Change in designation":
		s.field("Reason", "Regularised at the annual general meeting")
	default:
		s.field("Reason", pick(g, []string{"Resignation", "Completion of tenure", "Vacation of office under section 167"}))
	}
	s.field("Consent to act as director (DIR-2) attached", yesNo(purpose == "Appointment"))
}

func directorKYC(s *sheet, c *company, f filing, g *gen) {
	d := pick(g, c.directors)
	first := strings.ToLower(d.name[:1])
	last := strings.ToLower(d.name[strings.LastIndexByte(d.name, ' ')+1:])
	s.section("PART II - KYC OF DIRECTOR")
	s.field("DIN", d.din)
	s.field("Name", d.name)
	s.field("Nationality", "Indian")
	s.field("Income-tax PAN", "XXXXX"+g.digits(4)+"X")
	s.field("Mobile number (verified by OTP)", "+91 9XXXXX"+g.digits(4))
	s.field("Email address (verified by OTP)", first+"."+last+"@example.in")
	s.field("Financial year of KYC", fmt.Sprintf("%d-%02d", f.date.Year()-1, f.date.Year()%100))
}

func chargeCreation(s *sheet, c *company, f filing, g *gen) {
	amount := int64(g.between(5, 400)) * 1_000_000
	s.section("PART II - PARTICULARS OF CHARGE")
	s.field("Purpose of the form", pick(g, []string{"Creation of charge", "Modification of charge"}))
	s.field("Charge ID", "100"+g.digits(6))
	s.field("Charge holder", pick(g, c.banks))
	s.field("Type of charge", pick(g, []string{"Hypothecation of movable property", "Mortgage of immovable property", "Book debts", "Floating charge"}))
	s.field("Date of instrument creating the charge", day(f.date.AddDate(0, 0, -g.between(5, 28))))
	s.field("Amount secured by the charge", inr(amount))
	s.field("Rate of interest", fmt.Sprintf("%d.%02d%% per annum", g.between(7, 12), 5*g.intn(20)))
	s.field("Terms of repayment", fmt.Sprintf("%d monthly instalments", 12*g.between(2, 10)))
	s.field("Property charged", pick(g, []string{"Plant and machinery", "Stock and book debts", "Land and building at the registered office", "All present and future movable assets"}))
}

func chargeSatisfaction(s *sheet, c *company, f filing, g *gen) {
	s.section("PART II - SATISFACTION OF CHARGE")
	s.field("Charge ID", "100"+g.digits(6))
	s.field("Charge holder", pick(g, c.banks))
	s.field("Amount secured", inr(int64(g.between(5, 400))*1_000_000))
	s.field("Date of satisfaction", day(f.date.AddDate(0, 0, -g.between(3, 25))))
	s.field("Satisfied in full", "Yes")
	s.field("No-dues letter from charge holder attached", "Yes")
}

func registeredOffice(s *sheet, c *company, f filing, g *gen) {
	s.section("PART II - SITUATION OF REGISTERED OFFICE")
	s.field("Purpose of the form", "Change within the local limits of the same city")
	s.field("New address", fmt.Sprintf("%d, %s, %s, %s %s%s, India", g.between(1, 250), pick(g, streets),
		c.state.city, c.state.name, c.state.pin, g.digits(3)))
	s.field("With effect from", day(f.date.AddDate(0, 0, -g.between(1, 25))))
	s.field("Proof of office address", pick(g, []string{"Registered lease deed", "Conveyance deed", "Rent agreement with no-objection certificate"}))
}

func commencement(s *sheet, c *company, _ filing, g *gen) {
	s.section("PART II - DECLARATION FOR COMMENCEMENT OF BUSINESS")
	s.field("Every subscriber has paid for the shares agreed to be taken", "Yes")
	s.field("Paid-up capital received", inr(c.paidUp))
	s.field("Bank account", pick(g, c.banks)+", a/c XXXXXX"+g.digits(4))
	s.field("Certified by", "Practising company secretary, membership no. A"+g.digits(5))
}

func allotment(s *sheet, c *company, f filing, g *gen) {
	shares := int64(g.between(1, 200)) * 10_000
	premium := int64(g.between(0, 40)) * 5
	s.section("PART II - RETURN OF ALLOTMENT")
	s.field("Date of allotment", day(f.date.AddDate(0, 0, -g.between(2, 28))))
	s.field("Nature of allotment", pick(g, []string{"Private placement", "Rights issue", "Preferential allotment", "Employee stock options"}))
	s.field("Equity shares allotted", shares)
	s.field("Nominal value per share", "INR 10")
	s.field("Premium per share", fmt.Sprintf("INR %d", premium))
	s.field("Total amount received", inr(shares*(10+premium)))
	s.field("Number of allottees", g.between(1, 40))
	s.field("Consideration", "Cash")
}

func capitalAlteration(s *sheet, c *company, f filing, g *gen) {
	increase := int64(g.between(1, 20)) * 10_000_000
	s.section("PART II - ALTERATION OF SHARE CAPITAL")
	s.field("Date of general meeting", day(f.date.AddDate(0, 0, -g.between(3, 28))))
	s.field("Type of resolution", "Ordinary resolution")
	s.field("Authorised capital before alteration", inr(c.authorised))
	s.field("Authorised capital after alteration", inr(c.authorised+increase))
	s.field("Equity shares of INR 10 each added", increase/10)
	s.field("Stamp duty paid", inr(increase/200))
}

var resolutions = []struct{ section, subject string }{
	{"180(1)(c)", "Authority to borrow in excess of paid-up capital and free reserves"},
	{"180(1)(a)", "Authority to create charges on the company's assets"},
	{"186(3)", "Approval of loans, guarantees and investments above the prescribed limits"},
	{"179(3)", "Approval of the financial statements and the Board's report"},
	{"14", "Alteration of the articles of association"},
	{"13", "Alteration of the object clause of the memorandum of association"},
	{"188", "Approval of related party transactions"},
}

func resolution(s *sheet, _ *company, f filing, g *gen) {
	r := pick(g, resolutions)
	s.section("PART II - RESOLUTION")
	s.field("Type of resolution", pick(g, []string{"Special resolution", "Board resolution"}))
	s.field("Section of the Act", r.section)
	s.field("Subject matter", r.subject)
	s.field("Date of passing", day(f.date.AddDate(0, 0, -g.between(3, 28))))
	s.field("Number of resolutions", g.between(1, 3))
}

func deposits(s *sheet, c *company, f filing, g *gen) {
	_, to, _ := financialYear(f.date)
	directors := round(c.paidUp * int64(g.between(0, 20)) / 100)
	banksAmt := round(c.paidUp * int64(g.between(10, 150)) / 100)
	advances := round(c.paidUp * int64(g.between(0, 30)) / 100)
	s.section("PART II - RETURN OF MONEY NOT CONSIDERED AS DEPOSITS")
	s.field("Return as on", day(to))
	s.field("Loans from directors", inr(directors))
	s.field("Loans from banks and financial institutions", inr(banksAmt))
	s.field("Advances for supply of goods or services", inr(advances))
	s.field("Total", inr(directors+banksAmt+advances))
	s.field("Auditor's certificate attached", "Yes")
}

func msmeDues(s *sheet, c *company, f filing, g *gen) {
	half := fmt.Sprintf("October %d to March %d", f.date.Year()-1, f.date.Year())
	if f.date.Month() >= time.October {
		half = fmt.Sprintf("April %d to September %d", f.date.Year(), f.date.Year())
	}
	s.section("PART II - OUTSTANDING PAYMENTS TO MICRO AND SMALL ENTERPRISES")
	s.field("Half year", half)
	s.field("Suppliers owed for more than 45 days", g.between(1, 25))
	s.field("Amount due", inr(round(c.paidUp*int64(g.between(1, 15))/100)))
	s.field("Reason for delay", pick(g, []string{"Pending quality acceptance of supplies", "Disputed invoices under reconciliation", "Delayed receipts from customers"}))
}

func beneficialOwner(s *sheet, c *company, f filing, g *gen) {
	pct := fmt.Sprintf("%d.%02d%%", g.between(10, 60), g.intn(100))
	s.section("PART II - SIGNIFICANT BENEFICIAL OWNERSHIP")
	s.field("Name of the significant beneficial owner", pick(g, firstNames)+" "+pick(g, lastNames))
	s.field("Nationality", "Indian")
	s.field("Shares held, directly and indirectly", pct)
	s.field("Voting rights held", pct)
	s.field("Nature of interest", pick(g, []string{"Direct", "Indirect, through a holding company", "Indirect, through a trust"}))
	s.field("Date of receipt of declaration (BEN-1)", day(f.date.AddDate(0, 0, -g.between(2, 25))))
}

// sheet accumulates the text of a form.
type sheet struct{ strings.Builder }

func (s *sheet) printf(format string, args ...any) { fmt.Fprintf(s, format, args...) }

// field writes one labelled value, aligned in a column.
func (s *sheet) field(label string, value any) { fmt.Fprintf(s, "  %-46s %v\n", label, value) }

// section starts a titled part of the form.
func (s *sheet) section(title string) {
	fmt.Fprintf(s, "\n%s\n%s\n", title, strings.Repeat("-", len(title)))
}

// wrap writes text as paragraphs of at most 78 columns.
func (s *sheet) wrap(text string) {
	line := 0
	for i, w := range strings.Fields(text) {
		if i > 0 && line+1+len(w) > 78 {
			s.WriteString("\n")
			line = 0
		} else if i > 0 {
			s.WriteString(" ")
			line++
		}
		s.WriteString(w)
		line += len(w)
	}
	s.WriteString("\n")
}

func (s *sheet) Bytes() []byte { return []byte(s.String()) }

func day(t time.Time) string { return t.Format("02/01/2006") }

func className(public bool) string {
	if public {
		return "Public company"
	}
	return "Private company"
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

// round rounds an amount down to whole thousands of rupees.
func round(v int64) int64 { return v / 1000 * 1000 }
