# gnuplot -e "datadir='bench/results'" bench/plot.gp  ->  datadir/bench.png
# Bars: medians; error bars: min..max over the runs.
if (!exists("datadir")) datadir = "bench/results"
set terminal pngcairo size 2200,700 font "DejaVu Sans,10"
set output datadir."/bench.png"
set datafile separator whitespace
set style data histograms
set style histogram errorbars gap 1.5 lw 1.2
set style fill solid 0.75 border -1
set boxwidth 0.8
set grid ytics lc rgb "#dddddd"
set key off
set yrange [0:*]
set xtics nomirror scale 0 font ",9" noenhanced
set ytics nomirror
set bmargin 4
set multiplot title "xdpnet bench: 64-byte frames, one core (median, min–max over runs)" font ",12"

# target lines (report.py writes targets.gp next to the data)
tf = datadir."/targets.gp"
if (system("test -f '".tf."' && echo y") eq "y") load tf

set origin 0,0
set size 0.56,0.94
if (exists("t_floor")) set arrow 1 from graph 0, first t_floor to graph 1, first t_floor nohead dt 2 lc rgb "#2a8a2a" lw 1.2
if (exists("t_floor")) set label 1 sprintf("dashed: target 70 %% of the floor = %.2f Mpps", t_floor) at graph 0.98, graph 0.96 right tc rgb "#2a8a2a" font ",9"
if (exists("t_bridge")) set arrow 2 from graph 0, first t_bridge to graph 1, first t_bridge nohead dt 3 lc rgb "#aa3333" lw 1.2
if (exists("t_bridge")) set label 2 sprintf("dotted: target 4x the Linux bridge = %.2f Mpps", t_bridge) at graph 0.98, graph 0.91 right tc rgb "#aa3333" font ",9"
if (exists("t_nat")) set arrow 4 from graph 0, first t_nat to graph 1, first t_nat nohead dt 4 lc rgb "#7a3fa0" lw 1.2
if (exists("t_nat")) set label 4 sprintf("dash-dot: NAT target 3x nftables masquerade = %.2f Mpps", t_nat) at graph 0.98, graph 0.86 right tc rgb "#7a3fa0" font ",9"
set title "Live frames: forwarding rate"
set ylabel "Mpps"
set offsets 0, 0, graph 0.16, 0
plot datadir."/live.dat" using 2:3:4:xtic(1) lc rgb "#3b75af", \
     ''                  using ($0):($4):(sprintf("%.2f", $2)) with labels offset 0,0.8 font ",9"

unset arrow
unset label
set origin 0.56,0
set size 0.44,0.94
if (exists("t_cost")) set arrow 3 from graph 0, first t_cost to graph 1, first t_cost nohead dt 2 lc rgb "#2a8a2a" lw 1.2
if (exists("t_cost")) set label 3 sprintf("dashed: target 2x the trivial program = %.0f ns", t_cost) at graph 0.02, graph 0.96 left tc rgb "#2a8a2a" font ",9"
set title "Program cost (BPF\\_PROG\\_TEST\\_RUN; generator overhead subtracted)"
set ylabel "ns per packet"
plot datadir."/cost.dat" using 2:3:4:xtic(1) lc rgb "#d1793b", \
     ''                  using ($0):($4):(sprintf("%.0f", $2)) with labels offset 0,0.8 font ",9"
unset multiplot
