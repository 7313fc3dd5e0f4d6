#!/usr/bin/python3
"""Turns xdpnet-bench's raw.jsonl into the results tables (markdown), the
gnuplot data files, and (full runs) bench/RESULTS.md. Standard library only."""
import argparse
import datetime
import json
import os
import re
import statistics
import sys

# Reference figures measured on the build machine (docs: /work/shared/machine.md)
REF_FLOOR_MPPS = 6.0
REF_BRIDGE_MPPS = 0.94
REF_FWD_MPPS = 1.47  # Linux IPv4 forwarding, one flow
REF_MASQ_MPPS = 0.95  # the same with nftables masquerade, one flow

# Targets (from the issue)
T_FLOOR_SHARE = 0.70  # known unicast >= 70 % of the floor
T_BRIDGE_X = 4.0  # known unicast >= 4x the Linux bridge
T_COST_X = 2.0  # L2 path program cost <= 2x the trivial program
T_FDB_X = 1.5  # FDB 1M cost <= 1.5x FDB 1k
T_NAT_MASQ_X = 3.0  # NAT >= 3x nftables masquerade (aim 4x)
T_NAT_MASQ_AIM_X = 4.0
T_NAT_FLOOR_SHARE = 0.50  # NAT >= 50 % of the floor
T_NAT_COST_X = 4.0  # NAT path program cost <= 4x the trivial program
T_NAT_NEWCONN_MPS = 1.0  # >= 1M new connections per second per core
T_NAT_CT_SCALE_X = 2.0  # 1M tracked connections cost <= 2x 1k

# The NAT scenarios (group "nat"), in table order: id -> (leg, direction)
NAT_ROWS = [
    ("nat_fwd", "Linux IPv4 forwarding, no conntrack (linux-fwd)", "out"),
    ("nat_nft", "Linux forwarding + nftables masquerade (nft-masq)", "SNAT-out"),
    ("nat_nft_in", "Linux forwarding + nftables masquerade (nft-masq)", "reply-in"),
    ("nat_xdp", "xdpnet NAT (masquerade)", "SNAT-out"),
    ("nat_xdp_in", "xdpnet NAT (masquerade)", "reply-in"),
]

NOTES_BEGIN = "<!-- notes: kept across runs -->"
NOTES_END = "<!-- /notes -->"


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


class Stat:
    def __init__(self, values):
        self.values = list(values)
        self.n = len(self.values)
        self.med = statistics.median(self.values) if self.values else float("nan")
        self.min = min(self.values) if self.values else float("nan")
        self.max = max(self.values) if self.values else float("nan")

    def spread(self, fmt):
        return f"{fmt.format(self.min)}–{fmt.format(self.max)}"

    def spread_pct(self):
        if not self.values or not self.med:
            return float("nan")
        return 100.0 * (self.max - self.min) / self.med


def ordered(rows, kind, group=None):
    seen = []
    for r in rows:
        if r["kind"] != kind or (group and r.get("group") != group):
            continue
        if r["scenario"] not in seen:
            seen.append(r["scenario"])
    return seen


def verdict(ok):
    return "**met**" if ok else "**MISSED**"


def ratio(a, b):
    return a / b if b else float("nan")


def fmt_ratio(x, digits=2):
    return "–" if x != x else f"{x:.{digits}f}x"


NAT_POLICY = None  # results/nat-policy.yaml, when the run had a NAT instance


def memory_line(rows):
    """The memory probe's figures (xdpnet-bench: mem_probe) as one line, or ''."""
    by_mb = {}
    for r in rows:
        if r["kind"] == "mem":
            by_mb.setdefault(r["mb"], []).append(r["ns"])
    if not by_mb:
        return ""
    parts = []
    for mb in sorted(by_mb):
        v = sorted(by_mb[mb])
        parts.append(f"{mb} MB {statistics.median(v):.0f} ns ({v[0]:.0f}–{v[-1]:.0f})")
    return ("Host memory in this run, a dependent read per working-set size (median, min–max over the cost "
            "rounds): " + ", ".join(parts) + ". The NAT scenarios touch about 5 MB (connection-table buckets "
            "and elements, flow slots, frames): their program costs follow the 4 and 16 MB figures, which "
            "move with other tenants' use of the shared cache; compare runs by these first.")


def nat_flow_churn(rows):
    """How the NAT instance's flow table fared in the cost runs (the counters the bench read
    around them), as a sentence, or ''."""
    out = []
    for sc, what in (("nat_out", "SNAT-out"), ("nat_in", "reply-in")):
        rs = [r for r in rows if r["kind"] == "cost" and r.get("scenario") == sc and "flow_new" in r
              and not r.get("variant")]
        pkts = sum(r["repeat"] for r in rs)
        if not pkts:
            continue
        new = sum(r["flow_new"] for r in rs)
        ev = sum(r["flow_evicted"] + r["flow_lost"] for r in rs)
        lost = sum(r["flow_lost"] for r in rs)
        out.append(f"{what} {1e6 * new / pkts:.0f} per million packets, {1e6 * ev / pkts:.0f} of them pushing "
                   f"another flow out ({1e6 * lost / pkts:.0f} with its record lost: no daemon drains the ring "
                   "here)")
    if not out:
        return ""
    return (" The flow table in the cost runs (the instance's counters read around them): flows that took a "
            "slot, " + "; ".join(out) + ".")


def nat_instance_sizes():
    """The NAT instance's table sizes, from the policy the run used."""
    if not NAT_POLICY or not os.path.exists(NAT_POLICY):
        return ""
    text = open(NAT_POLICY).read()
    conns = re.search(r"max_connections:\s*(\d+)", text)
    flows = re.search(r"flows:\s*\{\s*size:\s*(\d+)", text)
    parts = []
    if conns:
        parts.append(f"`max_connections` {int(conns.group(1))}")
    if flows:
        parts.append(f"`telemetry.flows.size` {int(flows.group(1))} (translated packets are counted by their "
                     "connections and take no slot)")
    where = os.path.relpath(NAT_POLICY, os.path.dirname(os.path.abspath(__file__)))
    return (" xdpnet's NAT instance: " + ", ".join(parts) + f"; its policy is in `{where}`."
            if parts else "")


def nat_section(meta, rows, L, C, T, net, paired, floor, a, warnings):
    """The NAT table: Linux forwarding, nftables masquerade and xdpnet NAT
    over the same many-flow traffic, the issue's targets, and the time the NAT
    part took. Empty when the run had no NAT scenarios."""
    if not any(sc in L for sc, _, _ in NAT_ROWS) and not meta.get("nat_scale"):
        return []
    md = []
    have_xdp = "nat_xdp" in L
    note = meta.get("nat_note") or ""
    # short, for the table cells; the whole reason once below the tables
    unavailable = "xdpnet NAT: " + ("not available in this build" if note.startswith("not available")
                                    else "not measured in this run")
    nft, nft_in, fwd = L.get("nat_nft", {}).get("fwd"), L.get("nat_nft_in", {}).get("fwd"), \
        L.get("nat_fwd", {}).get("fwd")

    def per_round(sc, base_sc, pct=False):
        """'x (min–max)' of per-round ratios sc/base_sc, or '–'."""
        pr = paired(sc, base_sc) if sc in L and base_sc in L else None
        if not pr:
            return "–", float("nan")
        f = (lambda x: f"{100 * x:.0f} %") if pct else (lambda x: f"{x:.2f}x")
        return f"{f(pr.med)} ({f(pr.min)}–{f(pr.max)})", pr.med

    # targets
    tg = []

    def nat_live_target(name, sc, base_sc, limit, pct=False, aim=None):
        if sc not in L:
            tg.append((name, unavailable if sc.startswith("nat_xdp") else "not measured", "–"))
            return
        txt, v = per_round(sc, base_sc, pct)
        a_, b_ = L[sc]["fwd"], L.get(base_sc, {}).get("fwd")
        if b_:
            txt += f" per round; medians {a_.med:.2f} / {b_.med:.2f} Mpps"
        ok = v == v and v >= limit
        ver = verdict(ok)
        if ok and aim and v < aim:
            ver += f" (aim {aim:.0f}x not reached)"
        tg.append((name, txt, ver))

    nat_live_target("NAT SNAT-out ≥ 3x nftables masquerade (aim 4x)", "nat_xdp", "nat_nft", T_NAT_MASQ_X,
                    aim=T_NAT_MASQ_AIM_X)
    nat_live_target("NAT reply-in ≥ 3x nftables masquerade (aim 4x)", "nat_xdp_in", "nat_nft_in", T_NAT_MASQ_X,
                    aim=T_NAT_MASQ_AIM_X)
    nat_live_target("NAT SNAT-out ≥ 50 % of the floor", "nat_xdp", "floor", T_NAT_FLOOR_SHARE, pct=True)
    nat_live_target("NAT reply-in ≥ 50 % of the floor", "nat_xdp_in", "floor", T_NAT_FLOOR_SHARE, pct=True)
    for sc, what in (("nat_out", "SNAT-out"), ("nat_in", "reply-in")):
        name = f"NAT {what} program cost ≤ 4x the trivial program"
        if sc in C and "gen_nat" in C and T == T:
            est = net(sc, "gen_nat")
            r = ratio(est, T)
            tg.append((name, f"{r:.2f}x ({est:.0f} / {T:.0f} ns, program-alone estimate)", verdict(r <= T_NAT_COST_X)))
        else:
            tg.append((name, unavailable if not have_xdp or sc == "nat_out" else
                       "xdpnet NAT: reply-in not measured (no XDP program on the uplink)", "–"))
    setup_md, setup_tg = nat_setup_section(meta, rows, L, C, T, net, warnings, unavailable)
    tg.extend(setup_tg)

    md.append(f"### NAT (issue 3): {meta.get('nat_flows', '?')} UDP flows, 64-byte frames, one core")
    md.append("")
    md.append("Every run cycles through all the flows (distinct source address and port: "
              f"{meta.get('nat_flows', '?')} tuples from 200 VM addresses to 64 remote servers), valid IPv4 "
              "and UDP checksums; the connections exist before the measurement starts (warm-up, and for "
              "reply-in the outgoing flows are sent first), so this is the per-packet rate of established "
              "flows, not the connection setup rate. Each sink checks that the source (SNAT-out: the "
              "masquerade address 198.18.0.1) or the destination (reply-in: back in 10.0.30.0/24) was "
              "translated; a wrong one counts in `checks`." + nat_instance_sizes() + nat_flow_churn(rows))
    md.append("")
    md.append("| target | measured | |")
    md.append("|---|---|---|")
    for t in tg:
        md.append(f"| {t[0]} | {t[1]} | {t[2]} |")
    md.append("")
    md.append("| leg | direction | median Mpps | spread (min–max) | n | vs nft-masq | vs linux-fwd | vs floor | loss | checks |")
    md.append("|---|---|---|---|---|---|---|---|---|---|")
    for sc, leg, direction in NAT_ROWS:
        if sc not in L:
            if sc.startswith("nat_xdp"):
                why = unavailable if not have_xdp or sc == "nat_xdp" else \
                    "xdpnet NAT: reply-in not measured (no XDP program on the uplink)"
                md.append(f"| {leg} | {direction} | {why} | | | | | | | |")
            continue
        d = L[sc]
        f = d["fwd"]
        base_masq = "nat_nft_in" if sc.endswith("_in") else "nat_nft"
        checks = "ok" if not (d["bad"] or d["stray"] or d["tail_fail"] or d["restore_fail"]) else \
            f"bad {d['bad']}, stray {d['stray']}, tail-call fail {d['tail_fail']}"
        vs_masq = "1.00x" if sc == base_masq else per_round(sc, base_masq)[0]
        vs_fwd = "1.00x" if sc == "nat_fwd" else per_round(sc, "nat_fwd")[0]
        md.append(f"| {leg} | {direction} | {f.med:.2f} | {f.spread('{:.2f}')} | {f.n} | {vs_masq} | {vs_fwd} | "
                  f"{per_round(sc, 'floor', pct=True)[0]} | {100 * d['loss'].med:.2f} % | {checks} |")
    md.append("")
    md.append("Ratios: median (min–max) of per-round ratios (every NAT scenario runs in the same round-robin as "
              "the floor). The Linux legs hand the frames to the stack with `XDP_PASS` (as the bridge "
              "does): one namespace routes (`ip_forward=1`), another routes and masquerades (an nftables "
              "`masquerade` on the uplink in a postrouting nat chain: conntrack on); static neighbours, no ARP.")
    md.append("")
    ref = (f"Reference figures on this machine (machine.md, one flow): Linux forwarding about {REF_FWD_MPPS} "
           f"Mpps, with nftables masquerade about {REF_MASQ_MPPS} Mpps, floor about {REF_FLOOR_MPPS}; "
           f"measured here with {meta.get('nat_flows', '?')} flows: "
           f"{fwd.med if fwd else float('nan'):.2f}, {nft.med if nft else float('nan'):.2f} "
           f"(reply-in {nft_in.med if nft_in else float('nan'):.2f}), floor "
           f"{floor.med if floor else float('nan'):.2f}.")
    md.append(ref)
    md.append("")
    if not have_xdp:
        md.append("**xdpnet NAT: no figure in this run.** " + (f"Why: {note}." if note else ""))
        md.append("")
    md.extend(setup_md)
    t_nat = next((r["seconds"] for r in rows if r["kind"] == "timing" and r["group"] == "nat"), None)
    if t_nat is not None:
        md.append(f"Time of the NAT part: {t_nat:.0f} s of measurement"
                  + (f" + {a.nat_setup_s:.0f} s of setup (topology, nftables, xdpnet up)"
                     if a.nat_setup_s is not None else "") + ".")
        md.append("")
    if a.xdpnet_nat_stats and os.path.exists(a.xdpnet_nat_stats):
        try:
            st = json.load(open(a.xdpnet_nat_stats))
            drops = st.get("drops_total")
            per = [f"{p['name']} {k} {v}" for p in st.get("ports", []) for k, v in p.get("drops", {}).items() if v]
            md.append(f"xdpnet NAT instance's drop counters after the run: total {drops}"
                      + (f" ({', '.join(per)})" if per else "") + ".")
            md.append("")
            if drops:
                warnings.append(f"xdpnet NAT instance counted {drops} drops: {', '.join(per)}")
        except (ValueError, KeyError) as e:
            md.append(f"(xdpnet NAT stats unreadable: {e})")
            md.append("")
    return md


def nat_setup_section(meta, rows, L, C, T, net, warnings, unavailable):
    """New connections and the connection table at 1k vs 1M: the target rows
    and their tables. ([] , rows) when the run did not measure them."""
    md, tg = [], []
    name_new = "≥ 1M new connections per second per core"
    name_ct = "1M tracked connections cost ≤ 2x 1k"
    have = meta.get("nat_scale") and ("nat_setup" in L or "nat_new" in C or any(
        r["kind"] == "nattable" for r in rows))
    if not have:
        why = unavailable if not meta.get("nat_xdpnet") else \
            "not measured in this run" + (f": {meta['nat_scale_note']}" if meta.get("nat_scale_note") else "")
        tg.append((name_new, why, "–"))
        tg.append((name_ct, why, "–"))
        return md, tg
    fill = meta.get("nat_fill", 1048576)
    active = meta.get("nat_active", 1024)

    def tag_of(n):
        return f"{n // 1048576}M" if n >= 1048576 and n % 1048576 == 0 else \
            f"{n // 1024}k" if n >= 1024 and n % 1024 == 0 else str(n)
    t_small, t_large = tag_of(active), tag_of(fill)

    # ---- new connections
    sl = [r for r in rows if r["kind"] == "live" and r.get("scenario") == "nat_setup"]
    nc = [r for r in rows if r["kind"] == "cost" and r.get("scenario") == "nat_new"]
    est_new = net("nat_new", "gen_nat_new") if "nat_new" in C and "gen_nat_new" in C else float("nan")
    if sl:
        cm = Stat(r["conn_mps"] for r in sl)
        fw = Stat(r["fwd_mpps"] for r in sl)
        txt = (f"{cm.med:.2f} M/s ({cm.spread('{:.2f}')}, n {cm.n}) live, one core doing generator, NAT, "
               f"transmit and sink")
        if est_new == est_new:
            txt += f"; the NAT program alone {est_new:.0f} ns per new connection = {1e3 / est_new:.2f} M/s"
        tg.append((name_new, txt, verdict(cm.med >= T_NAT_NEWCONN_MPS)))
    elif est_new == est_new:
        tg.append((name_new, f"program alone {est_new:.0f} ns per new connection = {1e3 / est_new:.2f} M/s "
                   "(no live run)", verdict(1e3 / est_new >= T_NAT_NEWCONN_MPS)))
    else:
        tg.append((name_new, "not measured in this run", "–"))

    # ---- 1k vs 1M
    tables = {r["tag"]: r for r in rows if r["kind"] == "nattable"}
    ns_s = net(f"nat_ct_{t_small}", f"nat_ct_{t_small}_gen")
    ns_l = net(f"nat_ct_{t_large}", f"nat_ct_{t_large}_gen")
    l_s, l_l = L.get(f"nat_ct_{t_small}", {}).get("fwd"), L.get(f"nat_ct_{t_large}", {}).get("fwd")
    if ns_s == ns_s and ns_l == ns_l:
        r = ratio(ns_l, ns_s)
        txt = f"{r:.2f}x ({ns_l:.0f} / {ns_s:.0f} ns, program-alone estimates, {t_small} active flows)"
        if l_s and l_l:
            txt += f"; live {l_l.med:.2f} / {l_s.med:.2f} Mpps = {ratio(l_s.med, l_l.med):.2f}x the time per packet"
        tg.append((f"{t_large} tracked connections cost ≤ 2x {t_small}", txt, verdict(r <= T_NAT_CT_SCALE_X)))
    elif l_s and l_l:
        r = ratio(l_s.med, l_l.med)
        tg.append((f"{t_large} tracked connections cost ≤ 2x {t_small}",
                   f"{r:.2f}x the time per packet, live ({l_l.med:.2f} / {l_s.med:.2f} Mpps; no cost runs)",
                   verdict(r <= T_NAT_CT_SCALE_X)))
    else:
        tg.append((name_ct, "not measured in this run", "–"))

    # ---- tables
    cap = meta.get("nat_ct_capacity") or 0
    if sl or nc:
        md.extend(new_conn_tables(meta, sl, nc, C, est_new, cap, warnings))
    md.extend(ct_scale_tables(tables, C, L, net, t_small, t_large, warnings))
    return md, tg


def new_conn_tables(meta, sl, nc, C, est_new, cap, warnings):
    md = []
    md.append(f"#### NAT: new connections (every frame a UDP tuple not seen before in the run)")
    md.append("")
    md.append("The generator rewrites each frame to a new tuple (source port 1024-65535, then the next VM "
              "address and a new remote address 198.19.1.0 + k; checksums recomputed), into the VM port, "
              "through xdpnet's SNAT-out, out of the uplink. The connection table is emptied before every run; "
              "connections made = the instance's `nat_new` counter over the run, and the table must then hold "
              "two entries for each. The source port is always free (a masquerade keeps it): one allocation "
              f"probe per connection. Table: {cap} entries (`max_connections` {cap // 2}), preallocated.")
    md.append("")
    md.append("| measurement | median | spread (min–max) | n | forwarded Mpps | loss | checks |")
    md.append("|---|---|---|---|---|---|---|")
    if sl:
        cm = Stat(r["conn_mps"] for r in sl)
        fw = Stat(r["fwd_mpps"] for r in sl)
        loss = Stat(r["loss"] for r in sl)
        bad = sum(r["bad"] + r["stray"] + r["tail_fail"] + r["restore_fail"] for r in sl)
        ent_bad = sum(1 for r in sl if not r.get("entries_ok", 1))
        drops = sum(r.get("drops", 0) for r in sl)
        checks = "ok" if not (bad or ent_bad or drops) else \
            f"bad/stray {bad}, drops {drops}, runs with a wrong table fill {ent_bad}"
        conns = Stat(r["conns"] for r in sl)
        md.append(f"| live: new connections per second (M/s) | {cm.med:.2f} | {cm.spread('{:.2f}')} | {cm.n} | "
                  f"{fw.med:.2f} ({fw.spread('{:.2f}')}) | {100 * loss.med:.2f} % | {checks} |")
        share = Stat(r.get("conn_cpu_share", 0) for r in sl)
        md.append("")
        where = "all of them" if share.min >= 0.9995 else f"at least {100 * share.min:.1f} % of them"
        md.append(f"Live runs made {conns.spread('{:.0f}')} connections each, {where} "
                  f"on CPU {sl[0].get('conn_cpu', '?')} (the generator is pinned to CPU {meta.get('cpu', '?')}; "
                  "live frames run the program in the injecting syscall, so one core does the generator, the NAT "
                  "program, the veth transmit and the receiving sink: the rate is that core's, and the "
                  "program-alone figure below is what xdpnet's part would allow).")
        for r in sl:
            if not r.get("entries_ok", 1):
                warnings.append(f"nat_setup run {r['run']}: the table holds {r['entries']} entries, not two per "
                                "connection made")
            if r.get("drops"):
                warnings.append(f"nat_setup run {r['run']}: xdpnet dropped {r['drops']} frames (" + ", ".join(
                    f"{k[5:]} {v}" for k, v in r.items() if k.startswith("drop_")) + ")")
            if r.get("capped"):
                warnings.append(f"nat_setup run {r['run']}: stopped before --duration to keep the table under 3/4 "
                                "full")
    if nc and "nat_new" in C:
        c = C["nat_new"]
        ok = all(r.get("conns_ok", 1) for r in nc)
        if not ok:
            warnings.append("cost nat_new: a run did not make exactly one connection per repetition (drops?)")
        md.append("")
        md.append(f"Program cost of a new connection (BPF_PROG_TEST_RUN, {nc[0].get('repeat', '?')} repetitions, "
                  "each a new connection, the table growing from empty): generator + xdpnet "
                  f"{c['ns'].med:.0f} ns ({c['ns'].spread('{:.0f}')}), program-alone estimate "
                  + (f"{est_new:.0f} ns = {1e3 / est_new:.2f} M new connections/s per core for the program "
                     "alone" if est_new == est_new else "–")
                  + ("" if ok else " (**a run dropped or missed connections**)") + ".")
    md.append("")
    return md


def ct_scale_tables(tables, C, L, net, t_small, t_large, warnings):
    md = []
    ns_s = net(f"nat_ct_{t_small}", f"nat_ct_{t_small}_gen")
    l_s = L.get(f"nat_ct_{t_small}", {}).get("fwd")
    if tables or ns_s == ns_s or l_s:
        md.append(f"#### NAT: connection table at {t_small} vs {t_large} connections")
        md.append("")
        md.append(f"The same {t_small} established SNAT-out flows measured with only their own connections in "
                  f"the table, then with the table filled to {t_large} connections (the rest idle: one packet "
                  "each, made by the new-connection generator). Same preallocated table both times.")
        md.append("")
        md.append("| table | entries | cost, program alone (ns) | generator + xdpnet ns | spread | live Mpps | "
                  "live spread | housekeeping pass |")
        md.append("|---|---|---|---|---|---|---|---|")
        for tag in (t_small, t_large):
            tb = tables.get(tag, {})
            c = C.get(f"nat_ct_{tag}")
            lv = L.get(f"nat_ct_{tag}", {}).get("fwd")
            est = net(f"nat_ct_{tag}", f"nat_ct_{tag}_gen")
            gc = tb.get("gc_pass_ns")
            iv = tb.get("gc_interval_s") or 1
            gc_txt = f"{gc / 1e6:.0f} ms every {iv:g} s ({100 * gc / 1e9 / iv:.0f} % of a CPU)" if gc else "–"
            md.append(f"| {tag} connections | {tb.get('entries', '–')} | "
                      f"{'–' if est != est else f'{est:.0f}'} | {c['ns'].med:.0f} | {c['ns'].spread('{:.0f}')} | "
                      if c else f"| {tag} connections | {tb.get('entries', '–')} | – | – | – | ")
            md[-1] += (f"{lv.med:.2f} | {lv.spread('{:.2f}')} | {gc_txt} |" if lv else f"– | – | {gc_txt} |")
            if tb and tb.get("entries") != 2 * tb.get("conns", 0):
                warnings.append(f"NAT table {tag}: {tb.get('entries')} entries, expected {2 * tb.get('conns', 0)}")
        md.append("")
        md.append("Housekeeping pass: one run of the gc program (FDB aging and the walk over the connection "
                  "table that removes idle connections) by BPF_PROG_TEST_RUN; the gc timer runs it on one CPU "
                  "at that interval. run.sh starts xdpnet on another CPU than the generator's, so the passes "
                  "stay out of the figures above; this column is their cost.")
        md.append("")
    return md


T_POLICE_X = 1.3   # issue 4: policed path cost within 1.3x of the plain L2 path
T_ACL_X = 1.5      # issue 4: ACL cost at 10 000 rules within 1.5x of 10 rules


def controls_section(variants, L, C, T, warnings):
    """Issue 4: the same access->access traffic under policy variants."""
    def stat(kind, sc, variant, key):
        vals = [r[key] for r in variants if r["kind"] == kind and r["scenario"] == sc and r["variant"] == variant]
        return Stat(vals) if vals else None

    base_cost = C.get("uc_aa_direct", {}).get("ns")
    base_live = L.get("uc_aa", {}).get("fwd")
    bridge = L.get("bridge", {}).get("fwd")
    rows = [("plain L2 (base policy)", base_cost, base_live)]
    names = [("police", "xbp0 policed (100gbit / 1e9 pps: every frame admitted)"),
             ("acl10", "ACL, 10 rules (4 shapes, none matching; default allow)"),
             ("acl1000", "ACL, 1 000 rules (4 shapes)"),
             ("acl10000", "ACL, 10 000 rules (4 shapes)")]
    for v, label in names:
        rows.append((label, stat("cost", "uc_aa_direct", v, "ns"), stat("live", "uc_aa", v, "fwd_mpps")))
    md = ["### Per-VM controls (issue 4): policing and ACL on the access→access path",
          "",
          "The base policy, then variants applied to the running instance one after the other, the same "
          "traffic (1024 flows, 64-byte UDP). Cost: `xdpnet_ingress` alone on one frame (BPF_PROG_TEST_RUN).",
          "",
          "| policy | cost median ns | spread | vs plain | live Mpps | spread | vs plain |",
          "|---|---|---|---|---|---|---|"]
    for label, c, l in rows:
        md.append(f"| {label} | {c.med:.0f} | {c.spread('{:.0f}')} | "
                  f"{fmt_ratio(ratio(c.med, base_cost.med)) if c and base_cost else '–'} | "
                  f"{l.med:.2f} | {l.spread('{:.2f}')} | "
                  f"{fmt_ratio(ratio(l.med, base_live.med)) if l and base_live else '–'} |"
                  if c and l else f"| {label} | – | – | – | – | – | – |")
    md.append("")
    nft = stat("live", "bridge", "nft_limit", "fwd_mpps")
    pol = stat("live", "uc_aa", "police", "fwd_mpps")
    lim_x = stat("live", "uc_aa", "police_limit", "out_mpps")
    lim_n = stat("live", "bridge", "nft_limit_rate", "out_mpps")
    md.append("| rate limiting, same traffic | Mpps delivered (median) | spread |")
    md.append("|---|---|---|")
    for label, st_ in [("Linux bridge (base)", bridge),
                       ("Linux bridge + nftables `limit rate over 1e9/second` (every frame admitted)", nft),
                       ("xdpnet, xbp0 policed, every frame admitted", pol),
                       ("xdpnet, xbp0 policed at 100 000 pps (offered: the generator's full rate)", lim_x),
                       ("Linux bridge + nftables `limit rate over 100000/second`", lim_n)]:
        if st_:
            md.append(f"| {label} | {st_.med:.3f} | {st_.spread('{:.3f}')} |")
    md.append("")
    tg = []
    pc = stat("cost", "uc_aa_direct", "police", "ns")
    if pc and base_cost:
        r = ratio(pc.med, base_cost.med)
        tg.append(("policed path cost ≤ 1.3x the plain L2 path", f"{r:.2f}x ({pc.med:.0f} / {base_cost.med:.0f} ns)",
                   verdict(r <= T_POLICE_X)))
    if pol and nft:
        tg.append(("(for context) policed xdpnet vs the bridge with an nftables limit",
                   f"{ratio(pol.med, nft.med):.2f}x ({pol.med:.2f} / {nft.med:.2f} Mpps)", "–"))
    if lim_x:
        tg.append(("(for context) a 100 000 pps policer delivers", f"{lim_x.med * 1e6:.0f} pps "
                   f"({100 * (lim_x.med * 1e6 / 100000 - 1):+.1f} %)", "–"))
    a10, a10k = stat("cost", "uc_aa_direct", "acl10", "ns"), stat("cost", "uc_aa_direct", "acl10000", "ns")
    if a10 and a10k:
        r = ratio(a10k.med, a10.med)
        tg.append(("ACL cost at 10 000 rules ≤ 1.5x at 10 rules", f"{r:.2f}x ({a10k.med:.0f} / {a10.med:.0f} ns)",
                   verdict(r <= T_ACL_X)))
    if tg:
        md.append("| target | measured | verdict |")
        md.append("|---|---|---|")
        for name, txt, v in tg:
            md.append(f"| {name} | {txt} | {v} |")
        md.append("")
    for r in variants:
        if r["kind"] == "cost" and not r.get("ret_ok", 1):
            warnings.append(f"controls {r['variant']}: cost run returned {r['retval']}, not the expected verdict")
    return md


T_FLOW_COST_PCT = 15.0   # issue 5: accounting adds at most 15 % to the L2 path cost
T_EXPORT_CPU = 0.10      # issue 5: the daemon exports the flows every interval using < 10 % of one core
FLOW_VARIANTS = ("flows_off", "flows_on", "flows_export", "nat_flows_off", "nat_flows_on")


def flows_section(fvars, fexport, warnings):
    """Issue 5: what per-flow accounting costs per packet (flows off vs on, in
    interleaved blocks of the same run) and what exporting 100 000 active flows
    costs the daemon. [] when the run had neither."""
    md = []
    if not fvars and not fexport:
        return md
    tg = []

    # ---- 1. accounting cost, with vs without
    def vals(variant, kind, sc, key):
        return {(r.get("block", 0), r["run"]): r[key] for r in fvars
                if r["variant"] == variant and r["kind"] == kind and r.get("scenario") == sc}

    def est(variant):
        """Program-alone estimates over 1024 flows, per (block, run):
        (generator + xdpnet) - (generator + trivial) + trivial."""
        u, g, t = vals(variant, "cost", "uc_aa", "ns"), vals(variant, "cost", "gen_trivial", "ns"), \
            vals(variant, "cost", "trivial", "ns")
        return {k: u[k] - g[k] + t[k] for k in u if k in g and k in t}

    def nat_est(sc):
        """The NAT instance's program-alone estimates (issue 3's 16 384 flows)."""
        def get(variant):
            u, g, t = vals("nat_" + variant, "cost", sc, "ns"), vals("nat_" + variant, "cost", "gen_nat", "ns"), \
                vals("nat_" + variant, "cost", "trivial", "ns")
            return {k: u[k] - g[k] + t[k] for k in u if k in g and k in t}
        return get

    measures = [
        ("program cost, access→access, `xdpnet_ingress` alone on one frame (`uc_aa_direct`: one flow), ns",
         lambda v: vals(v, "cost", "uc_aa_direct", "ns"), "{:.0f}", False),
        ("program-alone estimate over 1024 flows (`uc_aa` through the generator), ns", est, "{:.0f}", False),
        ("live rate, access→access, 1024 flows (`uc_aa`), Mpps", lambda v: vals(v, "live", "uc_aa", "fwd_mpps"),
         "{:.2f}", True),
        ("NAT SNAT-out, program-alone estimate over the NAT flows (`nat_out`; the NAT instance), ns",
         nat_est("nat_out"), "{:.0f}", False),
        ("NAT reply-in, program-alone estimate over the NAT flows (`nat_in`; the NAT instance), ns",
         nat_est("nat_in"), "{:.0f}", False),
    ]
    have_ab = any(
        any(r["variant"] == pre + "flows_off" for r in fvars) and any(r["variant"] == pre + "flows_on" for r in fvars)
        for pre in ("", "nat_"))
    results = {}
    if have_ab:
        md.append("#### Accounting cost per packet: `telemetry: flows` off vs on, same run")
        md.append("")
        md.append("The base policy (flows on, the default) and a variant with `telemetry: flows: off`, applied to the "
                  "running instance in blocks interleaved back to back (off, on, off, on; each block all runs of "
                  "each measurement), so that drift of the machine hits both alike. Same traffic as the L2 table "
                  "(1024 flows, 64-byte UDP, access→access); the NAT rows (runs with the NAT instance) apply the "
                  "same two variants to the NAT instance, with the NAT table's traffic. Medians over all runs of "
                  "both blocks (min–max, n); “per block pair”: the change between block k off and block k on.")
        md.append("")
        md.append("| measurement | flows: off | flows: on | added by accounting | per block pair |")
        md.append("|---|---|---|---|---|")
        for label, get, f, is_rate in measures:
            off, on = get("flows_off"), get("flows_on")
            if not off or not on:
                if not label.startswith("NAT"):  # NAT rows: only runs with the NAT instance
                    md.append(f"| {label} | – | – | – | – |")
                continue
            so, sn = Stat(off.values()), Stat(on.values())
            # cost: added time; rate: the time per packet is 1/rate
            pct = (100 * (so.med / sn.med - 1)) if is_rate else (100 * (sn.med / so.med - 1))
            pairs = []
            for b in sorted({k[0] for k in off} & {k[0] for k in on}):
                bo = Stat(v for k, v in off.items() if k[0] == b)
                bn = Stat(v for k, v in on.items() if k[0] == b)
                pairs.append((100 * (bo.med / bn.med - 1)) if is_rate else (100 * (bn.med / bo.med - 1)))
            results[label] = (so, sn, pct, pairs)
            if is_rate:
                added = (f"{100 * (sn.med / so.med - 1):+.1f} % rate = {pct:+.1f} % time per packet")
            else:
                added = f"{sn.med - so.med:+.0f} ns = {pct:+.1f} %"
            md.append(f"| {label} | {f.format(so.med)} ({so.spread(f)}, n {so.n}) | "
                      f"{f.format(sn.med)} ({sn.spread(f)}, n {sn.n}) | {added} | "
                      f"{', '.join(f'{p:+.1f} %' for p in pairs) or '–'} |")
        md.append("")
        md.append("The live rate includes the generator and the veth transmit (one core does all of it), so the "
                  "same added nanoseconds are a smaller share there; the rate row gives the added time per packet "
                  "(1 / rate), also per block pair.")
        md.append("")
        lab0, lab1 = measures[0][0], measures[1][0]
        if lab0 in results:
            so, sn, pct, pairs = results[lab0]
            tg.append((f"accounting adds ≤ {T_FLOW_COST_PCT:.0f} % to the L2 path cost (program alone, access→access)",
                       f"{pct:+.1f} % ({so.med:.0f} → {sn.med:.0f} ns"
                       + (f"; per block pair {', '.join(f'{p:+.1f} %' for p in pairs)}" if pairs else "") + ")",
                       verdict(pct <= T_FLOW_COST_PCT)))
        if lab1 in results:
            so, sn, pct, pairs = results[lab1]
            tg.append(("(for context) the same over 1024 flows (program-alone estimate through the generator)",
                       f"{pct:+.1f} % ({so.med:.0f} → {sn.med:.0f} ns)",
                       "met" if pct <= T_FLOW_COST_PCT else "missed"))
        # the variants measured what they say
        for r in fvars:
            if r["kind"] == "meta" and r["variant"] in ("flows_off", "flows_on") and "flow_bits" in r:
                if (r["flow_bits"] == 0) != (r["variant"] == "flows_off"):
                    warnings.append(f"flow accounting: block {r.get('block', '?')} of {r['variant']} ran with "
                                    f"flow_bits {r['flow_bits']}: it did not measure what it is labelled")
        for r in fvars:
            if r["kind"] == "cost" and not r.get("ret_ok", 1):
                warnings.append(f"flow accounting {r['variant']}: cost {r['scenario']} returned {r['retval']}, "
                                "not the expected verdict")
            if r["kind"] == "live" and (r.get("bad") or r.get("stray") or r.get("loss", 0) > 0.001):
                warnings.append(f"flow accounting {r['variant']} block {r.get('block')}: live {r['scenario']} run "
                                f"{r['run']}: bad {r.get('bad')}, stray {r.get('stray')}, loss "
                                f"{100 * r.get('loss', 0):.2f} %")
    notes = sorted({r["text"] for r in fvars if r["kind"] == "note"})
    for t in notes:
        md.append(f"Note: {t}.")
        md.append("")
        warnings.append("flow accounting: " + t)

    # ---- 2. export
    if fexport:
        n_flows = int(Stat(r.get("flows", 0) for r in fexport).med)
        md.append(f"#### Flow export: the daemon with {n_flows} active flows")
        md.append("")
        md.append(
                  f"`xdpnet-bench flow-fill` writes {n_flows} flows (distinct UDP 5-tuples, IPv4, in the slots the "
                  "datapath would give them) straight into the instance's flow table and adds packets and bytes "
                  "to every one of them every second, with `last` from the datapath clock: every flow has news at "
                  "every round. The instance runs with `telemetry: flows: { active_timeout: 1s, idle_timeout: 60s "
                  "}`, the daemon with `--interval 1` and `--ipfix` to nfcapd on 127.0.0.1 (or `--jsonl /dev/null`), "
                  "pinned to the CPUs other than flow-fill's and the collector's. Measured after a warm-up: the "
                  "daemon's CPU time (utime + stime from /proc) over the window's wall time, and the records "
                  "exported per round and per second from its /metrics (scraped at the window's edges, outside the "
                  "CPU window). Median (min–max) over the runs.")
        md.append("")
        md.append("| exporter | runs | records per round | records/s | daemon CPU, % of one core | CPU per round | "
                  "round wall time (last) | lost | collector check |")
        md.append("|---|---|---|---|---|---|---|---|---|")
        names = {"ipfix": "IPFIX over UDP to nfcapd (127.0.0.1)", "jsonl": "JSON lines to /dev/null"}
        by = {}
        for exp in ("ipfix", "jsonl"):
            rs = [r for r in fexport if r["exporter"] == exp]
            if not rs:
                continue
            rpr, rps = Stat(r["records_per_round"] for r in rs), Stat(r["records_per_s"] for r in rs)
            cpu, cpr = Stat(100 * r["cpu_share"] for r in rs), Stat(r["cpu_ms_per_round"] for r in rs)
            rnd = Stat(r.get("round_s_last", 0) * 1e3 for r in rs)
            lost = sum(r.get("lost_total", r.get("lost", 0)) for r in rs)
            flows = Stat(r.get("flows", 0) for r in rs)
            by[exp] = (rpr, cpu, lost, flows)
            check = "–"
            if exp == "ipfix":
                got = sum(max(r.get("nf_flows", -1), 0) for r in rs)
                sent = sum(r.get("exported_total", 0) for r in rs)
                exact = all(r.get("nf_packets", -1) == r.get("fill_packets", -2) for r in rs)
                seq = sum(max(r.get("nf_seq_failures", 0), 0) for r in rs)
                rcv = sum(r.get("udp_rcvbuf_errors", 0) for r in rs)
                check = (f"received {got:.0f} of {sent:.0f} records; packets "
                         + ("exact (each written packet reported once)" if exact else "**differ**")
                         + (f"; {seq} sequence failures" if seq else "")
                         + (f"; {rcv} datagrams dropped for a full UDP receive buffer (host-wide count)"
                            if rcv else ""))
                for r in rs:
                    if r.get("nf_flows", -1) < r.get("exported_total", 0):
                        warnings.append(f"flow export ipfix run {r['run']}: nfcapd received {r.get('nf_flows')} "
                                        f"records, the daemon counted {r.get('exported_total'):.0f} exported "
                                        "(UDP lost on the way, or the collector could not keep up)")
                    if r.get("nf_packets", -1) != r.get("fill_packets", -2):
                        warnings.append(f"flow export ipfix run {r['run']}: the records carry {r.get('nf_packets')} "
                                        f"packets, flow-fill wrote {r.get('fill_packets')}")
            md.append(f"| {names[exp]} | {len(rs)} | {rpr.med:.0f} ({rpr.spread('{:.0f}')}) | "
                      f"{rps.med:.0f} ({rps.spread('{:.0f}')}) | {cpu.med:.1f} % ({cpu.spread('{:.1f}')}) | "
                      f"{cpr.med:.0f} ms | {rnd.med:.0f} ms | {lost:.0f} | {check} |")
            for r in rs:
                if r.get("scrape_wait_s", 0) > 1.0:
                    warnings.append(f"flow export {exp} run {r['run']}: the daemon answered /metrics "
                                    f"{r['scrape_wait_s']:.1f} s after it was asked (its rounds ran back to back: a "
                                    "round took about the interval or longer)")
                if r.get("daemon_rc", 0) != 0:
                    warnings.append(f"flow export {exp} run {r['run']}: the daemon exited with {r['daemon_rc']}")
                if r.get("slots_used", 0) != r.get("flows", 0):
                    warnings.append(f"flow export {exp} run {r['run']}: {r.get('slots_used'):.0f} flow slots in use, "
                                    f"{r.get('flows')} written")
                if r.get("flows", 0) != r.get("flows_wanted", 0):
                    warnings.append(f"flow export {exp} run {r['run']}: flow-fill placed {r.get('flows')} of "
                                    f"{r.get('flows_wanted')} flows")
        md.append("")
        rss = Stat(r.get("rss_mb", 0) for r in fexport)
        md.append(f"The daemon's CPU time includes handing the datagrams to the collector's socket on the loopback "
                  f"(a remote collector costs a NIC transmit instead); its peak resident memory "
                  f"was {rss.med:.0f} MB (median; the mapped flow table counts in it). Records lost: send "
                  "failures the daemon counted; the collector check compares what nfcapd stored over the daemon's "
                  "whole life (its last rounds after flow-fill stopped included) with the daemon's count, and the "
                  "packets in those records with the packets flow-fill wrote.")
        md.append("")

        def export_target(name, exp, context):
            if exp not in by:
                return
            rpr, cpu, lost, flows = by[exp]
            every = rpr.med >= 0.99 * flows.med
            ok = every and cpu.med < 100 * T_EXPORT_CPU and not lost
            txt = (f"{rpr.med:.0f} records per 1 s round ({rpr.spread('{:.0f}')}) of {flows.med:.0f} flows, "
                   f"{cpu.med:.1f} % of one core ({cpu.spread('{:.1f}')})"
                   + (f", {lost:.0f} records lost" if lost else ""))
            n = f"{flows.med:,.0f}".replace(",", " ")
            tg.append((name.format(n=n), txt, ("met" if ok else "missed") if context else verdict(ok)))

        export_target("the daemon exports {n} flows per interval using < 10 % of one core (IPFIX)", "ipfix", False)
        export_target("(for context) the same with JSON lines to /dev/null", "jsonl", True)
    elif fvars:
        md.append("Flow export: not measured in this run.")
        md.append("")

    head = ["### Flow accounting (issue 5)", ""]
    if tg:
        head += ["| target | measured | verdict |", "|---|---|---|"]
        head += [f"| {name} | {txt} | {v} |" for name, txt, v in tg]
        head.append("")
    return head + md


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--cpu-model", default="?")
    ap.add_argument("--ncpu", default="?")
    ap.add_argument("--xdpnet-stats")
    ap.add_argument("--results-md")
    ap.add_argument("--load-before", default="")
    ap.add_argument("--load-after", default="")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--xdpnet-nat-stats")
    ap.add_argument("--nat-setup-s", type=float)
    a = ap.parse_args()
    global NAT_POLICY
    NAT_POLICY = os.path.join(a.out_dir, "nat-policy.yaml")

    rows = load(a.raw)
    # Records of the per-VM controls part carry the policy variant they ran
    # under; everything else is the base policy.
    variants = [r for r in rows if r.get("variant")]
    rows = [r for r in rows if not r.get("variant")]
    # The flow accounting part (issue 5): its variants (flows off/on, the
    # export policy) and the export runs; the rest are the per-VM controls.
    flow_vars = [r for r in variants if r["variant"] in FLOW_VARIANTS]
    variants = [r for r in variants if r["variant"] not in FLOW_VARIANTS]
    flow_export = [r for r in rows if r["kind"] == "flowexport"]
    meta = next((r for r in rows if r["kind"] == "meta"), {})
    live = [r for r in rows if r["kind"] == "live"]
    cost = [r for r in rows if r["kind"] == "cost"]
    warnings = []

    # ---------------- live frames
    L = {}
    for sc in ordered(rows, "live"):
        rs = [r for r in live if r["scenario"] == sc]
        L[sc] = {
            "label": rs[0]["label"],
            "group": rs[0].get("group", "l2"),
            "copies": rs[0]["copies"],
            "fwd": Stat(r["fwd_mpps"] for r in rs),
            "in": Stat(r["in_mpps"] for r in rs),
            "out": Stat(r["out_mpps"] for r in rs),
            "loss": Stat(r["loss"] for r in rs),
            "bad": sum(r["bad"] for r in rs),
            "stray": sum(r["stray"] for r in rs),
            "tail_fail": sum(r["tail_fail"] for r in rs),
            "restore_fail": sum(r["restore_fail"] for r in rs),
            "stray_where": sorted({k[6:] for r in rs for k in r if k.startswith("stray_")}),
        }
    floor = L.get("floor", {}).get("fwd")
    bridge = L.get("bridge", {}).get("fwd")

    def paired(a_sc, b_sc):
        """Per-round ratios a/b: the live scenarios run round-robin, so run r of
        a and of b saw the same machine state; drift cancels in the ratio."""
        if a_sc.startswith("fdb_") or b_sc.startswith("fdb_"):
            return None  # measured in blocks, not in the same rounds
        a_r = {r["run"]: r["fwd_mpps"] for r in live if r["scenario"] == a_sc}
        b_r = {r["run"]: r["fwd_mpps"] for r in live if r["scenario"] == b_sc}
        v = [a_r[k] / b_r[k] for k in a_r if k in b_r and b_r[k]]
        return Stat(v) if v else None

    for sc, d in L.items():
        if d["loss"].max > 0.001:
            warnings.append(f"{sc}: up to {100 * d['loss'].max:.2f} % of the frames (copies) never reached a sink")
        if d["bad"]:
            warnings.append(f"{sc}: {d['bad']} frames arrived with the wrong length, tagging or (NAT) address")
        if d["stray"]:
            warnings.append(f"{sc}: {d['stray']} frames arrived at sinks that should get nothing "
                            f"({', '.join(d['stray_where'])})")
        if d["tail_fail"] or d["restore_fail"]:
            warnings.append(f"{sc}: generator tail-call failures {d['tail_fail']}, restore failures {d['restore_fail']}")

    # ---------------- program cost
    C = {}
    for sc in ordered(rows, "cost"):
        rs = [r for r in cost if r["scenario"] == sc]
        C[sc] = {
            "label": rs[0]["label"],
            "group": rs[0]["group"],
            "base": rs[0].get("base") or "gen_trivial",
            "wrapped": rs[0]["wrapped"],
            "ns": Stat(r["ns"] for r in rs),
            "wall": Stat(r["wall_ns"] for r in rs),
            "ret_ok": all(r["ret_ok"] for r in rs),
            "frame_kept": all(r["frame_kept"] for r in rs),
            "retval": rs[-1]["retval"],
        }
        if not C[sc]["ret_ok"]:
            warnings.append(f"cost {sc}: the program returned {rs[-1]['retval']}, not the expected verdict "
                            "(it measured another path)")
        if not rs[0]["wrapped"] and not C[sc]["frame_kept"]:
            warnings.append(f"cost {sc}: the program alone changed the frame; repetitions after the first "
                            "measured a different path")
    triv = C.get("trivial", {}).get("ns")
    T = triv.med if triv else float("nan")

    def net(sc, base):
        """Program cost as if run alone: wrapped - (generator + trivial) + trivial."""
        if sc not in C or base not in C:
            return float("nan")
        return C[sc]["ns"].med - C[base]["ns"].med + T

    # ---------------- markdown
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    md = []
    md.append(f"Run: {date} · kernel {meta.get('kernel', '?')} · CPU {a.cpu_model} ({a.ncpu} cores), "
              f"generator pinned to CPU {meta.get('cpu', '?')} · {meta.get('runs', '?')} runs per scenario, "
              f"{meta.get('duration', '?')} s each (live), repeat {meta.get('repeat', '?')} (cost) · "
              f"{meta.get('flows', '?')} flows (distinct src/dst MAC pairs), 64-byte frames (68 tagged)"
              + (" · **quick run (fewer, shorter runs: indicative only)**" if a.quick else ""))
    if a.load_before or a.load_after:
        md.append("")
        md.append(f"Load average before / after: {a.load_before} / {a.load_after}")
    mem = memory_line(rows)
    if mem:
        md.append("")
        md.append(mem)
    md.append("")

    # targets
    tg = []
    uc = L.get("uc_aa", {}).get("fwd")

    def live_target(name, sc, base_sc, limit, pct=False, context=False):
        a_, b_ = L.get(sc, {}).get("fwd"), L.get(base_sc, {}).get("fwd")
        if not a_ or not b_:
            return
        r = ratio(a_.med, b_.med)
        pr = paired(sc, base_sc)
        rv = pr.med if pr else r
        f = (lambda x: f"{100 * x:.0f} %") if pct else (lambda x: f"{x:.2f}x")
        txt = f"{f(rv)}" + (f" per round ({f(pr.min)}–{f(pr.max)}, n {pr.n})" if pr else "") + \
            f"; ratio of medians {f(r)} ({a_.med:.2f} / {b_.med:.2f} Mpps)"
        ok = rv >= limit
        tg.append((name, txt, ("met" if ok else "missed") if context else verdict(ok)))

    live_target("known unicast ≥ 70 % of the floor", "uc_aa", "floor", T_FLOOR_SHARE, pct=True)
    live_target("known unicast ≥ 4x the Linux bridge (plain: br_netfilter off)", "uc_aa", "bridge", T_BRIDGE_X)
    live_target("(for context) known unicast vs the bridge with bridge-nf-call-iptables=1, this host's default",
                "uc_aa", "bridge_nf", T_BRIDGE_X, context=True)
    live_target("(for context) access→trunk ≥ 70 % of the floor", "uc_at", "floor", T_FLOOR_SHARE, pct=True,
                context=True)
    live_target("(for context) trunk→access ≥ 70 % of the floor", "uc_ta", "floor", T_FLOOR_SHARE, pct=True,
                context=True)
    if "uc_aa_direct" in C and triv:
        r = ratio(C["uc_aa_direct"]["ns"].med, T)
        tg.append(("L2 path program cost ≤ 2x the trivial program",
                   f"{r:.2f}x ({C['uc_aa_direct']['ns'].med:.0f} / {T:.0f} ns)", verdict(r <= T_COST_X)))
    fdb_tags = [sc[4:] for sc in ordered(rows, "cost", "fdb") if not sc.endswith("_gen")]
    plain = [t for t in fdb_tags if "_hot" not in t]
    if len(plain) >= 2:
        small, large = plain[0], plain[-1]
        ns_s, ns_l = net(f"fdb_{small}", f"fdb_{small}_gen"), net(f"fdb_{large}", f"fdb_{large}_gen")
        r = ratio(ns_l, ns_s)
        tg.append((f"FDB {large} cost ≤ 1.5x FDB {small} (random lookups over the whole fill)",
                   f"{r:.2f}x ({ns_l:.0f} / {ns_s:.0f} ns)", verdict(r <= T_FDB_X)))
        for hot in [t for t in fdb_tags if "_hot" in t]:
            ns_h = net(f"fdb_{hot}", f"fdb_{hot}_gen")
            r = ratio(ns_h, ns_s)
            tg.append((f"(for context, not a target) FDB {hot.replace('_hot', ' with ')} active entries "
                       f"vs FDB {small}", f"{r:.2f}x ({ns_h:.0f} / {ns_s:.0f} ns)", "–"))
    if tg:
        md.append("### Targets")
        md.append("")
        md.append("| target | measured | |")
        md.append("|---|---|---|")
        for t in tg:
            md.append(f"| {t[0]} | {t[1]} | {t[2]} |")
        md.append("")

    if L:
        md.append("### Live frames: forwarding rate (Mpps, 64-byte frames, one core)")
        md.append("")
        md.append("| scenario | median Mpps | spread (min–max) | n | vs floor | vs Linux bridge | loss | checks |")
        md.append("|---|---|---|---|---|---|---|---|")
        for sc, d in L.items():
            if d["group"] in ("nat", "natsetup", "natct"):
                continue  # the NAT tables below
            f = d["fwd"]
            checks = "ok" if not (d["bad"] or d["stray"] or d["tail_fail"] or d["restore_fail"]) else \
                f"bad {d['bad']}, stray {d['stray']}, tail-call fail {d['tail_fail']}"
            label = d["label"]
            if d["copies"] > 1:
                label += f" (frames in; {d['out'].med:.2f} Mpps copies out, " \
                         f"{d['out'].spread('{:.2f}')})"
            def vs(base_sc, base):
                pr = paired(sc, base_sc)
                if pr:
                    return fmt_ratio(pr.med)
                return fmt_ratio(ratio(f.med, base.med) if base else float('nan')) + "¹"
            md.append(f"| {label} | {f.med:.2f} | {f.spread('{:.2f}')} | {f.n} | "
                      f"{vs('floor', floor)} | {vs('bridge', bridge)} | "
                      f"{100 * d['loss'].med:.2f} % | {checks} |")
        md.append("")
        md.append("Ratios are medians of per-round ratios (the live scenarios run round-robin, run r of each "
                  "in the same round, so slow drift of the machine cancels); ¹ ratio of medians, for the FDB "
                  "scenarios, which run in blocks after the round-robin part.")
        md.append("")
        md.append(f"Reference figures on this machine (machine.md): floor about {REF_FLOOR_MPPS} Mpps, "
                  f"Linux bridge about {REF_BRIDGE_MPPS} Mpps; measured here "
                  f"{floor.med if floor else float('nan'):.2f} and {bridge.med if bridge else float('nan'):.2f}.")
        md.append("")

    if C:
        md.append("### Program cost (BPF_PROG_TEST_RUN, ns per packet, kernel-reported `duration`)")
        md.append("")
        md.append("| program / path | median ns | spread | n | program-alone estimate | vs trivial | verdict |")
        md.append("|---|---|---|---|---|---|---|")
        for sc, d in C.items():
            s = d["ns"]
            if d["group"] == "fdb":
                base = sc if sc.endswith("_gen") else sc + "_gen"
            else:
                base = d["base"]
            if not d["wrapped"]:
                est = s.med
            elif sc == base or sc.startswith("gen_") or sc.endswith("_gen"):
                est = float("nan")
            else:
                est = net(sc, base)
            estcol = "–" if est != est else f"{est:.0f}"
            vs = "–" if est != est else fmt_ratio(ratio(est, T))
            ret = {1: "DROP", 2: "PASS", 3: "TX", 4: "REDIRECT"}.get(d["retval"], str(d["retval"]))
            md.append(f"| {d['label']} | {s.med:.0f} | {s.spread('{:.0f}')} | {s.n} | {estcol} | {vs} | "
                      f"{ret}{'' if d['ret_ok'] else ' (unexpected)'} |")
        md.append("")
        md.append("`program-alone estimate` = (generator + program) − (generator + trivial) + trivial: the "
                  "generator restores the frame before each run, which paths that push or pop a tag need, and "
                  "its own cost is taken out again. The `program alone` row runs xdpnet_ingress on one fixed "
                  "frame with no generator (valid because access→access does not change the frame).")
        md.append("")

    if fdb_tags:
        md.append("### FDB scaling (same table, filled with N entries; every frame looks up a random "
                  "destination and source among them)")
        md.append("")
        md.append("| FDB fill | cost median ns (alone est.) | generator+xdpnet ns | spread | live Mpps | live spread |")
        md.append("|---|---|---|---|---|---|")
        for tag in fdb_tags:
            c = C.get(f"fdb_{tag}")
            lv = L.get(f"fdb_{tag}")
            md.append(f"| {tag.replace('_hot', ', active ')} | {net(f'fdb_{tag}', f'fdb_{tag}_gen'):.0f} | {c['ns'].med:.0f} | "
                      f"{c['ns'].spread('{:.0f}')} | "
                      f"{lv['fwd'].med:.2f} | {lv['fwd'].spread('{:.2f}')} |" if lv else
                      f"| {tag} | {net(f'fdb_{tag}', f'fdb_{tag}_gen'):.0f} | {c['ns'].med:.0f} | "
                      f"{c['ns'].spread('{:.0f}')} | – | – |")
        md.append("")

    md.extend(nat_section(meta, rows, L, C, T, net, paired, floor, a, warnings))

    if a.xdpnet_stats and os.path.exists(a.xdpnet_stats):
        try:
            st = json.load(open(a.xdpnet_stats))
            drops = st.get("drops_total")
            per = []
            for p in st.get("ports", []):
                for k, v in p.get("drops", {}).items():
                    if v:
                        per.append(f"{p['name']} {k} {v}")
            md.append(f"xdpnet's own drop counters after the run: total {drops}"
                      + (f" ({', '.join(per)})" if per else "") + ".")
            md.append("")
            if drops:
                warnings.append(f"xdpnet counted {drops} drops: {', '.join(per)}")
        except (ValueError, KeyError) as e:
            md.append(f"(xdpnet stats unreadable: {e})")
            md.append("")

    if variants:
        md.extend(controls_section(variants, L, C, T, warnings))

    md.extend(flows_section(flow_vars, flow_export, warnings))

    if warnings:
        md.append("### Warnings from this run")
        md.append("")
        for w in warnings:
            md.append(f"- {w}")
        md.append("")

    body = "\n".join(md)

    # ---------------- gnuplot data
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "live.dat"), "w") as f:
        f.write("# label median min max\n")
        for sc, d in L.items():
            short = {"floor": "floor\\n(devmap)", "floor_if": "floor\\n(ifindex)", "uc_aa": "a→a",
                     "uc_at": "a→trunk\\n(push)", "uc_ta": "trunk→a\\n(pop)", "flood": "flood in\\n(frames)",
                     "bridge": "Linux\\nbridge",
                     "bridge_nf": "bridge +\\nbr_netfilter", "nat_fwd": "Linux\\nforwarding",
                     "nat_nft": "nft masq\\nout", "nat_nft_in": "nft masq\\nreply-in",
                     "nat_xdp": "xdpnet NAT\\nout", "nat_xdp_in": "xdpnet NAT\\nreply-in",
                     "nat_setup": "xdpnet NAT\\nnew conns"}.get(sc)
            if short is None and sc.startswith("nat_ct_"):
                short = "NAT " + sc[7:] + "\\nconns"
            if short is None and sc.startswith("fdb_"):
                short = "a→a FDB\\n" + sc[4:].replace("_hot", " hot ")
            f.write(f"\"{short or sc}\" {d['fwd'].med:.4f} {d['fwd'].min:.4f} {d['fwd'].max:.4f}\n")
            if d["copies"] > 1:
                f.write(f"\"flood out\\n(copies)\" {d['out'].med:.4f} {d['out'].min:.4f} "
                        f"{d['out'].max:.4f}\n")
    # Cost plot: the program-alone figure of every case (generator overhead
    # taken out of the wrapped ones; bars span min..max of the wrapped runs).
    with open(os.path.join(a.out_dir, "cost.dat"), "w") as f:
        f.write("# label median min max (ns, program alone)\n")
        for sc, d in C.items():
            if sc == "gen_trivial" or sc.endswith("_gen"):
                continue
            s_ = d["ns"]
            if d["wrapped"]:
                base = sc + "_gen" if d["group"] == "fdb" else d["base"]
                if sc.startswith("gen_") or base not in C:
                    continue
                off = T - C[base]["ns"].med
            else:
                off = 0.0
            short = {"trivial": "trivial", "uc_aa_direct": "a→a\\n(alone)", "uc_aa": "a→a\\n1024 flows",
                     "uc_at": "a→trunk\\n(push)", "uc_ta": "trunk→a\\n(pop)", "flood": "flood\\n(program)",
                     "nat_out": "NAT\\nSNAT-out", "nat_in": "NAT\\nreply-in",
                     "nat_new": "NAT new\\nconnection"}.get(sc)
            if short is None and sc.startswith("nat_ct_"):
                short = "NAT " + sc[7:] + "\\nconns"
            if short is None and sc.startswith("fdb_"):
                short = "a→a FDB\\n" + sc[4:].replace("_hot", " hot ")
            f.write(f"\"{short or sc}\" {s_.med + off:.2f} {s_.min + off:.2f} {s_.max + off:.2f}\n")

    # Target lines for the plot.
    with open(os.path.join(a.out_dir, "targets.gp"), "w") as f:
        if floor:
            f.write(f"t_floor = {T_FLOOR_SHARE * floor.med:.4f}\n")
        if bridge:
            f.write(f"t_bridge = {T_BRIDGE_X * bridge.med:.4f}\n")
        if triv:
            f.write(f"t_cost = {T_COST_X * T:.2f}\n")
        nft = L.get("nat_nft", {}).get("fwd")
        if nft and "nat_xdp" in L:
            f.write(f"t_nat = {T_NAT_MASQ_X * nft.med:.4f}\n")

    title = "## xdpnet benchmark results"
    latest = f"{title}\n\n{body}\n![live Mpps and program cost](bench.png)\n"
    with open(os.path.join(a.out_dir, "latest.md"), "w") as f:
        f.write(latest)

    if a.results_md:
        notes = ""
        if os.path.exists(a.results_md):
            old = open(a.results_md).read()
            m = re.search(re.escape(NOTES_BEGIN) + r"(.*?)" + re.escape(NOTES_END), old, re.S)
            if m:
                notes = m.group(1).strip("\n")
        if not notes:
            notes = "(observations about the latest full run go here; run.sh keeps this section)"
        rel = os.path.relpath(os.path.join(a.out_dir, "bench.png"), os.path.dirname(a.results_md))
        out = ("# xdpnet benchmark results\n\n"
               "Written by `sudo bench/run.sh` (full runs only; see bench/README.md for the method). "
               f"Raw data: `{os.path.relpath(a.raw, os.path.dirname(a.results_md))}`.\n\n"
               f"{body}\n![live Mpps and program cost]({rel})\n\n"
               f"## Observations\n\n{NOTES_BEGIN}\n{notes}\n{NOTES_END}\n")
        with open(a.results_md, "w") as f:
            f.write(out)

    sys.stdout.write(body + "\n")


if __name__ == "__main__":
    main()
