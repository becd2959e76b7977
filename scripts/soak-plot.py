#!/usr/bin/env python3
"""Plots the CSV of scripts/soak.sh (RSS, goroutines and open fds of each
process over time) as an SVG, with the standard library only.

    scripts/soak-plot.py soak.csv soak.svg
"""
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
procs = ['serve', 'work1', 'work2']
colors = {'serve': '#1f77b4', 'work1': '#d62728', 'work2': '#2ca02c'}
W, H, L, R, T, B = 760, 250, 60, 20, 30, 40
def panel(y0, key, scale, label, ymax):
    out = [f'<text x="{L}" y="{y0+T-10}" font-size="13">{label}</text>']
    pw, ph = W-L-R, H-T-B
    tmax = max(int(r['elapsed_s']) for r in rows)
    out.append(f'<rect x="{L}" y="{y0+T}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    for i in range(5):
        v = ymax*i/4; y = y0+T+ph-ph*i/4
        out.append(f'<text x="{L-6}" y="{y+4}" font-size="10" text-anchor="end">{v:.0f}</text>')
        out.append(f'<line x1="{L}" y1="{y}" x2="{L+pw}" y2="{y}" stroke="#eee"/>')
    for m in range(0, tmax//60+1, 3):
        x = L+pw*m*60/tmax
        out.append(f'<text x="{x}" y="{y0+T+ph+14}" font-size="10" text-anchor="middle">{m} min</text>')
    for p in procs:
        pts = [(int(r['elapsed_s']), float(r[key])*scale) for r in rows if r['process']==p]
        path = ' '.join(f'{L+pw*t/tmax:.1f},{y0+T+ph-ph*v/ymax:.1f}' for t, v in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colors[p]}" stroke-width="1.5"/>')
    return out
parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{3*H+20}" font-family="sans-serif">',
         '<rect width="100%" height="100%" fill="white"/>']
parts += panel(0, 'rss_bytes', 1/2**20, 'Resident memory (MiB)', 60)
parts += panel(H, 'goroutines', 1, 'Goroutines', 40)
parts += panel(2*H, 'open_fds', 1, 'Open file descriptors', 40)
x = L
for p in procs:
    parts.append(f'<rect x="{x}" y="{3*H+2}" width="12" height="12" fill="{colors[p]}"/><text x="{x+16}" y="{3*H+12}" font-size="12">{p}</text>')
    x += 90
parts.append('</svg>')
open(sys.argv[2], 'w').write('\n'.join(parts)+'\n')
