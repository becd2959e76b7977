// Command scaleout draws the CSV of scripts/scale-out.sh as a PNG: documents
// per second and jobs per second against the number of `intake work`
// processes, in two panels side by side.
//
//	go run ./scripts/scaleout -in docs/img/scale-out.csv -out docs/img/scale-out.png -title "2 cores"
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// row is one run of scripts/scale-out.sh.
type row struct {
	procs, jobsPerSec, docsPerSec float64
}

func main() {
	in := flag.String("in", "docs/img/scale-out.csv", "the CSV of scripts/scale-out.sh")
	out := flag.String("out", "docs/img/scale-out.png", "the PNG to write")
	title := flag.String("title", "", "a note on the machine, added to the title")
	flag.Parse()
	if err := run(*in, *out, *title); err != nil {
		fmt.Fprintln(os.Stderr, "scaleout:", err)
		os.Exit(1)
	}
}

func run(in, out, title string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	rows, err := readRows(f)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	return draw2(rows, title, out)
}

// readRows reads the CSV: a header naming the columns, then one line per run.
func readRows(r io.Reader) ([]row, error) {
	records, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read CSV: %w", err)
	}
	if len(records) < 2 {
		return nil, errors.New("no runs in the CSV")
	}
	col := map[string]int{}
	for i, name := range records[0] {
		col[name] = i
	}
	for _, name := range []string{"procs", "jobs_per_s", "documents_per_s"} {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("no column %q in the header", name)
		}
	}
	rows := make([]row, 0, len(records)-1)
	for i, rec := range records[1:] {
		var vals [3]float64
		for j, name := range []string{"procs", "jobs_per_s", "documents_per_s"} {
			v, err := strconv.ParseFloat(rec[col[name]], 64)
			if err != nil {
				return nil, fmt.Errorf("line %d, %s: %w", i+2, name, err)
			}
			vals[j] = v
		}
		rows = append(rows, row{procs: vals[0], jobsPerSec: vals[1], docsPerSec: vals[2]})
	}
	return rows, nil
}

// draw2 writes the two panels, documents/s on the left and jobs/s on the
// right, to path as a PNG.
func draw2(rows []row, note, path string) error {
	suffix := ""
	if note != "" {
		suffix = " (" + note + ")"
	}
	docs, err := panel(rows, "documents/s"+suffix, "documents per second",
		func(r row) float64 { return r.docsPerSec }, color.RGBA{R: 31, G: 119, B: 180, A: 255})
	if err != nil {
		return err
	}
	jobs, err := panel(rows, "jobs/s"+suffix, "jobs per second",
		func(r row) float64 { return r.jobsPerSec }, color.RGBA{R: 214, G: 39, B: 40, A: 255})
	if err != nil {
		return err
	}
	img := vgimg.New(10*vg.Inch, 4*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{{docs, jobs}}, tiles, dc)
	docs.Draw(canvases[0][0])
	jobs.Draw(canvases[0][1])

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// panel plots one rate against the number of work processes, with a point
// at each run.
func panel(rows []row, title, ylabel string, value func(row) float64, c color.Color) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "intake work on one PostgreSQL: " + title
	p.X.Label.Text = "work processes"
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	pts := make(plotter.XYs, len(rows))
	ticks := make([]plot.Tick, len(rows))
	for i, r := range rows {
		pts[i].X, pts[i].Y = r.procs, value(r)
		ticks[i] = plot.Tick{Value: r.procs, Label: strconv.FormatFloat(r.procs, 'f', -1, 64)}
	}
	line, points, err := plotter.NewLinePoints(pts)
	if err != nil {
		return nil, err
	}
	line.Color, line.Width = c, vg.Points(2)
	points.Color, points.Shape = c, draw.CircleGlyph{}
	p.Add(line, points)
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.Y.Min = 0, 0
	p.Y.Max *= 1.1
	return p, nil
}
