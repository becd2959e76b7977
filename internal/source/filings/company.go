package filings

import (
	"fmt"
	"math/rand/v2"
)

// industry is a line of business: its NIC 2008 code (the CIN's characters
// 2 to 6), a description for forms, and words for company names.
type industry struct {
	nic   string
	desc  string
	words []string
}

var industries = []industry{
	{"24101", "Manufacture of basic iron and steel", []string{"Steel", "Ispat", "Metals"}},
	{"62011", "Computer programming and software development", []string{"Software Solutions", "Infotech", "Technologies"}},
	{"10611", "Grain milling and food processing", []string{"Agro Foods", "Food Products", "Agro Industries"}},
	{"13111", "Preparation and spinning of cotton fibre", []string{"Textiles", "Spinning Mills", "Fabrics"}},
	{"21002", "Manufacture of allopathic pharmaceutical preparations", []string{"Pharmaceuticals", "Life Sciences", "Remedies"}},
	{"41001", "Construction of buildings", []string{"Infra Projects", "Constructions", "Builders"}},
	{"49231", "Road freight transport", []string{"Logistics", "Roadways", "Carriers"}},
	{"35106", "Generation of electricity from renewable sources", []string{"Green Energy", "Power", "Renewables"}},
	{"64990", "Other financial service activities", []string{"Finance", "Capital", "Investments"}},
	{"29301", "Manufacture of parts for motor vehicles", []string{"Auto Components", "Auto Parts", "Engineering"}},
	{"20119", "Manufacture of basic organic chemicals", []string{"Chemicals", "Organics", "Petrochem"}},
	{"55101", "Hotels and resort accommodation", []string{"Hotels", "Hospitality", "Resorts"}},
	{"46909", "Wholesale trade of a variety of goods", []string{"Trading", "Exports", "Enterprises"}},
	{"86100", "Hospital activities", []string{"Healthcare", "Hospitals", "Medicare"}},
}

// state is an Indian state by its CIN code, with a city for addresses and
// the Registrar of Companies that keeps its companies' filings.
type state struct {
	code, name, city, roc, pin string
}

var states = []state{
	{"MH", "Maharashtra", "Mumbai", "RoC-Mumbai", "400"},
	{"DL", "Delhi", "New Delhi", "RoC-Delhi", "110"},
	{"KA", "Karnataka", "Bengaluru", "RoC-Bangalore", "560"},
	{"TN", "Tamil Nadu", "Chennai", "RoC-Chennai", "600"},
	{"GJ", "Gujarat", "Ahmedabad", "RoC-Ahmedabad", "380"},
	{"WB", "West Bengal", "Kolkata", "RoC-Kolkata", "700"},
	{"TG", "Telangana", "Hyderabad", "RoC-Hyderabad", "500"},
	{"UP", "Uttar Pradesh", "Kanpur", "RoC-Kanpur", "208"},
	{"RJ", "Rajasthan", "Jaipur", "RoC-Jaipur", "302"},
	{"HR", "Haryana", "Gurugram", "RoC-Delhi", "122"},
	{"KL", "Kerala", "Kochi", "RoC-Ernakulam", "682"},
	{"PB", "Punjab", "Ludhiana", "RoC-Chandigarh", "141"},
	{"MP", "Madhya Pradesh", "Indore", "RoC-Gwalior", "452"},
	{"OR", "Odisha", "Bhubaneswar", "RoC-Cuttack", "751"},
}

// stateByCode returns the state of a CIN's state code, or a generic entry
// for codes the table does not know.
func stateByCode(code string) state {
	for _, s := range states {
		if s.code == code {
			return s
		}
	}
	return state{code: code, name: code, city: "Registered City", roc: "RoC-" + code, pin: "999"}
}

// industryByNIC returns the industry of a NIC code, or a generic entry.
func industryByNIC(nic string) industry {
	for _, in := range industries {
		if in.nic == nic {
			return in
		}
	}
	return industry{nic: nic, desc: "Business activity"}
}

var namePrefixes = []string{
	"Shree Ganesh", "Bharat", "Sundaram", "Vardhman", "Kaveri", "Sahyadri",
	"Narmada", "Apex", "Himalaya", "Deccan", "Sagar", "Lakshmi", "Trident",
	"Utkal", "Malabar", "Konark", "Godavari", "Aravali", "Nilgiri", "Indus",
	"Jyoti", "Prakash", "Mahalaxmi", "Surya", "Vindhya", "Shivam", "Amrit",
	"Pioneer", "Everest", "Orient",
}

// NewCompany returns a random CIN and company name in the shape seed 004's
// starter generated: "L", a 5-digit industry code, a 2-letter state code, a
// year of incorporation from 1980 to 2020, a 3-letter class and a 6-digit
// registration number. The class is PLC (public, named "… Limited") or PTC
// (private, named "… Private Limited"), and the name's words fit the
// industry. A nil r uses the package-level random source.
func NewCompany(r *rand.Rand) (cin, name string) {
	intn := rand.IntN
	if r != nil {
		intn = r.IntN
	}
	in := industries[intn(len(industries))]
	st := states[intn(len(states))]
	year := 1980 + intn(41)
	class, suffix := "PLC", "Limited"
	if intn(2) == 0 {
		class, suffix = "PTC", "Private Limited"
	}
	cin = fmt.Sprintf("L%s%s%04d%s%06d", in.nic, st.code, year, class, intn(1_000_000))
	name = fmt.Sprintf("%s %s %s", namePrefixes[intn(len(namePrefixes))], in.words[intn(len(in.words))], suffix)
	return cin, name
}
