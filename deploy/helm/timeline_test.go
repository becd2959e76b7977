package helm

import (
	"fmt"
	"image/color"
	"os"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

const kubernetesDoc = "../../docs/KUBERNETES.md"

// writeTimeline records a scenario's timeline in docs/KUBERNETES.md, between
// the markers of its trigger, and draws it as docs/img/keda-TRIGGER.png.
func writeTimeline(t *testing.T, trigger string, timeline []sample, runs int) {
	t.Helper()
	doc, err := os.ReadFile(kubernetesDoc)
	if err != nil {
		t.Fatal(err)
	}
	begin := fmt.Sprintf("<!-- timeline:%s -->", trigger)
	end := fmt.Sprintf("<!-- /timeline:%s -->", trigger)
	i, j := strings.Index(string(doc), begin), strings.Index(string(doc), end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %s … %s markers", kubernetesDoc, begin, end)
	}
	last := timeline[len(timeline)-1]
	body := fmt.Sprintf("\n%d jobs, %d runs, %d KEDA Jobs (%d found nothing left to claim), recorded %s by `go test ./deploy/helm -run TestKEDAScenario/%s -update`:\n\n![KEDA timeline, %s trigger](img/keda-%s.png)\n\n%s",
		scenarioJobs, runs, last.KEDAJobs, last.KEDAJobs-runs, time.Now().UTC().Format("2006-01-02"), trigger, trigger, trigger, table(timeline))
	out := string(doc[:i+len(begin)]) + body + string(doc[j:])
	if err := os.WriteFile(kubernetesDoc, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := drawTimeline(timeline, trigger, "../../docs/img/keda-"+trigger+".png"); err != nil {
		t.Fatal(err)
	}
}

// drawTimeline plots pending jobs, running KEDA Jobs and completed jobs
// over time.
func drawTimeline(timeline []sample, trigger, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("intake on KEDA (%s trigger): pending jobs and worker Jobs", trigger)
	p.X.Label.Text = "seconds after 5 jobs were created"
	p.Y.Label.Text = "count"
	p.Add(plotter.NewGrid())
	series := []struct {
		name  string
		value func(sample) float64
		color color.RGBA
	}{
		{"pending jobs (store)", func(s sample) float64 { return float64(s.Pending) }, color.RGBA{R: 214, G: 39, B: 40, A: 255}},
		{"running worker Jobs (KEDA)", func(s sample) float64 { return float64(s.Running) }, color.RGBA{R: 31, G: 119, B: 180, A: 255}},
		{"completed jobs (store)", func(s sample) float64 { return float64(s.Completed) }, color.RGBA{R: 44, G: 160, B: 44, A: 255}},
	}
	for _, s := range series {
		pts := make(plotter.XYs, len(timeline))
		for i, x := range timeline {
			pts[i].X = x.At.Seconds()
			pts[i].Y = s.value(x)
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		line.Color = s.color
		line.Width = vg.Points(2)
		p.Add(line)
		p.Legend.Add(s.name, line)
	}
	p.Legend.Top = true
	p.Y.Min = 0
	p.Y.Max = scenarioJobs + 2.5 // room for the legend above the lines
	return p.Save(8*vg.Inch, 4*vg.Inch, path)
}
