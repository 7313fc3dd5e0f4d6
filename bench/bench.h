/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Shared between the bench BPF programs (gen, sink, trivial) and
 * xdpnet-bench.cpp. Plain C, fixed-width types.
 */
#ifndef XDPNET_BENCH_H
#define XDPNET_BENCH_H

#include <linux/types.h>

/* The memory probe (trivial.bpf.c: xb_memprobe): dependent reads per run,
 * among at most XB_MEM_LINES_MAX 64-byte lines (64 MB). */
#define XB_MEM_READS 64
#define XB_MEM_LINES_MAX (1u << 20)

/* Template frames: up to XB_MAX_TMPL frames of XB_FRAME_MAX bytes. The
 * generator stores exactly the run's frame length (64 untagged, 68 tagged). */
#define XB_FRAME_MAX 72
#define XB_MAX_TMPL 65536

struct xb_tmpl {
	__u8 data[XB_FRAME_MAX];
};

/* Generator run configuration, array index 0, written before every run. */
enum xb_gen_mode {
	XB_GEN_TEMPLATES = 0, /* frame i = template (counter % n_tmpl) */
	XB_GEN_RANDOM_FDB = 1, /* template 0, then random dst/src MAC drawn
				* from the FDB fill (xb_fill_mac(2k) / (2k+1)) */
	XB_GEN_NEW_TUPLE = 2,  /* template 0 (a NAT SNAT-out frame), then a UDP
				* tuple never sent before in this process:
				* see XB_NT_* */
};

/* XB_GEN_NEW_TUPLE: frame number c (the generator's per-CPU `seq`, never
 * reset) gets
 *   source port  XB_NT_PORT_LO + c % XB_NT_PORTS   (1024..65535)
 *   k = c / XB_NT_PORTS:
 *   source       10.0.30.(XB_NT_VM_FIRST + k % XB_NT_VMS), MAC 02:b3:00:00:00:(k % XB_NT_VMS)
 *   destination  198.19.0.0 + XB_NT_DADDR_LO + k     (198.19.1.0, 198.19.1.1, ...)
 * port 443, and its IPv4 and UDP checksums recomputed from the partial sums in
 * xb_gen_cfg. (destination, source port) is distinct for every c, so both the
 * originator's and the reply tuple are new, and a masquerade that keeps the
 * source port finds it free. The destinations stay out of 198.19.0.1-64 (the
 * established-flow templates). Offsets are those of an untagged 64-byte
 * Ethernet/IPv4/UDP frame. */
#define XB_NT_PORT_LO 1024
#define XB_NT_PORTS 64512
#define XB_NT_VMS 200
#define XB_NT_VM_FIRST 10
#define XB_NT_DADDR_LO 0x0100
#define XB_NT_MAX_K (0xff00 - XB_NT_DADDR_LO) /* destination low word stays <= 0xfeff */

struct xb_gen_cfg {
	__u32 n_tmpl;    /* templates in use, >= 1 */
	__u32 frame_len; /* 64 or 68: the bytes restored on each frame */
	__u32 mode;      /* enum xb_gen_mode */
	__u32 fill;      /* XB_GEN_RANDOM_FDB: FDB entries filled (even = dst, odd = src) */
	/* XB_GEN_NEW_TUPLE: ones' complement sums (not folded, not inverted) of
	 * the IPv4 header and of the UDP pseudo header + datagram of template 0,
	 * each with its checksum field and the words that change (source
	 * address low word, destination address low word, and for UDP the
	 * source port) taken as zero. */
	__u32 nt_ip_sum;
	__u32 nt_udp_sum;
};

/* Generator per-CPU state. */
struct xb_gen_state {
	__u64 next;      /* template counter */
	__u64 frames;    /* frames handed to the program under test */
	__u64 tail_fail; /* tail call failed (empty slot): dropped */
	__u64 restore_fail;
	__u64 rng; /* xorshift64 state (random FDB mode) */
	__u64 seq; /* XB_GEN_NEW_TUPLE: tuples made so far (never reset) */
};

/* Sink: per-CPU counters of one receiving namespace end. */
struct xb_sink_cfg {
	__u32 expect_len; /* 0 = do not check */
	__u32 expect_vid; /* 0 = expect untagged, 1..4094 = tagged with it, 0xffff = no check */
	/* Routed/NAT scenarios: an IPv4 frame whose address at ip_off (12 = source,
	 * 16 = destination; 0 = no check) must satisfy (addr & ip_mask) == ip_val
	 * (both network order), e.g. the source is the masquerade address after
	 * SNAT, or the destination is back in the VMs' subnet after reply-in. */
	__u32 ip_off;
	__u32 ip_val;
	__u32 ip_mask;
	__u32 pad;
};

struct xb_sink_ctr {
	__u64 pkts;
	__u64 bytes;
	__u64 tagged;
	__u64 bad_len;
	__u64 bad_vlan;
	__u64 bad_ip; /* not IPv4, or the checked address is wrong (ip_off set) */
};

struct xb_sink_stray {
	__u8 head[40]; /* Ethernet + 26 bytes */
	__u32 len;
};

/* The MAC of FDB fill entry i: 02:fb:(i>>24):(i>>16):(i>>8):i. */
#define XB_FILL_MAC0 0x02
#define XB_FILL_MAC1 0xfb

#endif
