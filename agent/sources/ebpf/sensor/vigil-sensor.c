// SPDX-License-Identifier: Apache-2.0
/*
 * vigil-sensor: loads Vigil's BPF programs (vigil-sensor.bpf.c, embedded as a libbpf skeleton),
 * attaches the ones for the requested event types, and writes what they report to stdout as
 * length-prefixed binary records (sensor-records.h) for the agent to decode.
 *
 *   vigil-sensor --events execve,openat,connect [--ring-bytes N] [--argv-max N] [--arg-len N]
 *                [--env-bytes N] [--ignore-pid PID]... [--stats-interval-ms N]
 *                [--wakeup-bytes N] [--buffer-bytes N]
 *                [--cgroup-hierarchy unified|pids|memory|cpu|cpuacct]
 *   vigil-sensor --list-events
 *
 * The stream starts with a header record (format version, how to turn the BPF clock into wall
 * time, limits, cgroup hierarchy, enabled events) written once everything is attached: its
 * arrival means the sensor runs. Then event records, and every stats interval a record of
 * per-event-type sent/lost counters. Exits 0 on SIGTERM/SIGINT or when stdout closes; on any
 * failure to start it says why on stderr (one line starting "vigil-sensor: ") and exits 1
 * (2 for bad usage).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "sensor-records.h"
#include "vigil-sensor.skel.h"

#define TRACEFS_MAGIC 0x74726163
#define DEBUGFS_MAGIC 0x64626720

/* ---- event types -------------------------------------------------------------------------- */

/* One requestable event type: its record type, the tracepoint that must exist for it (NULL for
 * sched ones, which always do), and the programs that produce it. */
struct event_spec {
	const char *name;
	__u16 type;
	const char *syscall;
	const char *progs[3];
};

#define SYSCALL_EVENT(n, t) { #n, t, #n, { "enter_" #n, "exit_" #n, NULL } }

static const struct event_spec EVENTS[] = {
	{ "clone", VE_CLONE, NULL, { "sched_fork", NULL, NULL } },
	{ "clone3", VE_CLONE, NULL, { "sched_fork", NULL, NULL } },
	{ "fork", VE_CLONE, NULL, { "sched_fork", NULL, NULL } },
	{ "vfork", VE_CLONE, NULL, { "sched_fork", NULL, NULL } },
	{ "execve", VE_EXECVE, "execve", { "enter_execve", "exit_execve", "sched_exec" } },
	{ "execveat", VE_EXECVEAT, "execveat", { "enter_execveat", "exit_execveat", "sched_exec" } },
	{ "procexit", VE_PROCEXIT, NULL, { "sched_exit", NULL, NULL } },
	{ "open", VE_OPEN, "open", { "enter_open", "exit_open_", NULL } },
	SYSCALL_EVENT(openat, VE_OPENAT),
	SYSCALL_EVENT(openat2, VE_OPENAT2),
	SYSCALL_EVENT(creat, VE_CREAT),
	SYSCALL_EVENT(connect, VE_CONNECT),
	{ "accept", VE_ACCEPT, "accept", { "enter_accept", "exit_accept_", NULL } },
	SYSCALL_EVENT(accept4, VE_ACCEPT4),
	SYSCALL_EVENT(listen, VE_LISTEN),
	SYSCALL_EVENT(socket, VE_SOCKET),
	SYSCALL_EVENT(sendto, VE_SENDTO),
	SYSCALL_EVENT(sendmsg, VE_SENDMSG),
	{ "dup", VE_DUP, "dup", { "enter_dup", "exit_dup_", NULL } },
	SYSCALL_EVENT(dup2, VE_DUP2),
	SYSCALL_EVENT(dup3, VE_DUP3),
	SYSCALL_EVENT(unlink, VE_UNLINK),
	SYSCALL_EVENT(unlinkat, VE_UNLINKAT),
	SYSCALL_EVENT(rmdir, VE_RMDIR),
	SYSCALL_EVENT(mkdir, VE_MKDIR),
	SYSCALL_EVENT(mkdirat, VE_MKDIRAT),
	SYSCALL_EVENT(chmod, VE_CHMOD),
	SYSCALL_EVENT(fchmod, VE_FCHMOD),
	SYSCALL_EVENT(fchmodat, VE_FCHMODAT),
	SYSCALL_EVENT(rename, VE_RENAME),
	SYSCALL_EVENT(renameat, VE_RENAMEAT),
	SYSCALL_EVENT(renameat2, VE_RENAMEAT2),
	SYSCALL_EVENT(link, VE_LINK),
	SYSCALL_EVENT(linkat, VE_LINKAT),
	SYSCALL_EVENT(symlink, VE_SYMLINK),
	SYSCALL_EVENT(symlinkat, VE_SYMLINKAT),
	SYSCALL_EVENT(ptrace, VE_PTRACE),
	SYSCALL_EVENT(setuid, VE_SETUID),
	SYSCALL_EVENT(setgid, VE_SETGID),
	SYSCALL_EVENT(setns, VE_SETNS),
	SYSCALL_EVENT(unshare, VE_UNSHARE),
	SYSCALL_EVENT(bpf, VE_BPF),
	SYSCALL_EVENT(init_module, VE_INIT_MODULE),
	SYSCALL_EVENT(finit_module, VE_FINIT_MODULE),
	SYSCALL_EVENT(memfd_create, VE_MEMFD_CREATE),
	SYSCALL_EVENT(mount, VE_MOUNT),
	/* umount2(2) is the kernel's sys_umount: its tracepoint is named after that. */
	{ "umount2", VE_UMOUNT2, "umount", { "enter_umount", "exit_umount", NULL } },
};
#define N_EVENTS (sizeof(EVENTS) / sizeof(EVENTS[0]))

/* ---- options ------------------------------------------------------------------------------ */

static struct {
	bool wanted[N_EVENTS];
	__u32 ring_bytes;
	__u32 argv_max;
	__u32 arg_len;
	__u32 env_bytes;
	__u32 env_max;
	__u32 ignore[4];
	int n_ignore;
	__u32 stats_ms;
	__u64 wakeup_bytes;
	__u64 buffer_bytes;
	const char *cgroup;
} opt = {
	.ring_bytes = 8u << 20,
	.argv_max = 128,
	.arg_len = 4096,
	.env_bytes = 4096,
	.env_max = 256,
	.stats_ms = 1000,
	.wakeup_bytes = 256u << 10,
	.buffer_bytes = 64u << 20,
	.cgroup = NULL,
};

static void die(int status, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void die(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("vigil-sensor: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(status);
}

static unsigned long long parse_number(const char *flag, const char *text, unsigned long long min,
				       unsigned long long max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || *text == '\0' || *end != '\0' || v < min || v > max)
		die(2, "%s must be a whole number from %llu to %llu, got \"%s\"", flag, min, max, text);
	return v;
}

static void want_events(const char *list)
{
	char *copy = strdup(list);
	for (char *save = NULL, *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		bool found = false;
		for (size_t i = 0; i < N_EVENTS; i++) {
			if (strcmp(name, "all") == 0 || strcmp(name, EVENTS[i].name) == 0) {
				opt.wanted[i] = true;
				found = true;
			}
		}
		if (!found)
			die(2, "unknown event type \"%s\" (vigil-sensor --list-events lists them)", name);
	}
	free(copy);
}

static void parse_args(int argc, char **argv)
{
	bool any = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--list-events") == 0) {
			for (size_t j = 0; j < N_EVENTS; j++)
				printf("%s\n", EVENTS[j].name);
			exit(0);
		}
		if (i + 1 >= argc)
			die(2, "%s needs a value (usage: vigil-sensor --events LIST [options])", a);
		const char *v = argv[++i];
		if (strcmp(a, "--events") == 0) {
			want_events(v);
			any = true;
		} else if (strcmp(a, "--ring-bytes") == 0) {
			opt.ring_bytes = parse_number(a, v, 4096, 1u << 30);
			if (opt.ring_bytes & (opt.ring_bytes - 1))
				die(2, "--ring-bytes must be a power of two, got %u", opt.ring_bytes);
		} else if (strcmp(a, "--argv-max") == 0) {
			opt.argv_max = parse_number(a, v, 1, 4096);
		} else if (strcmp(a, "--arg-len") == 0) {
			opt.arg_len = parse_number(a, v, 1, 16384);
		} else if (strcmp(a, "--env-bytes") == 0) {
			opt.env_bytes = parse_number(a, v, 0, 16384);
		} else if (strcmp(a, "--ignore-pid") == 0) {
			if (opt.n_ignore >= 3)
				die(2, "at most 3 --ignore-pid");
			opt.ignore[opt.n_ignore++] = parse_number(a, v, 1, INT_MAX);
		} else if (strcmp(a, "--stats-interval-ms") == 0) {
			opt.stats_ms = parse_number(a, v, 10, 3600000);
		} else if (strcmp(a, "--wakeup-bytes") == 0) {
			opt.wakeup_bytes = parse_number(a, v, 1, 1u << 30);
		} else if (strcmp(a, "--buffer-bytes") == 0) {
			opt.buffer_bytes = parse_number(a, v, 1u << 20, 1ull << 32);
		} else if (strcmp(a, "--cgroup-hierarchy") == 0) {
			opt.cgroup = v;
		} else {
			die(2, "unknown option %s", a);
		}
	}
	if (!any)
		die(2, "--events LIST is required (vigil-sensor --list-events lists the types)");
	/* Past a quarter of the ring, a burst could fill it before the reader wakes. */
	if (opt.wakeup_bytes > opt.ring_bytes / 4)
		opt.wakeup_bytes = opt.ring_bytes / 4;
}

/* ---- environment checks ------------------------------------------------------------------- */

static bool has_capabilities(void)
{
	if (geteuid() == 0)
		return true;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return false;
	char line[256];
	unsigned long long eff = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "CapEff:", 7) == 0)
			eff = strtoull(line + 7, NULL, 16);
	}
	fclose(f);
	const unsigned long long sys_admin = 1ull << 21, perfmon = 1ull << 38, bpf = 1ull << 39;
	return (eff & sys_admin) || ((eff & perfmon) && (eff & bpf));
}

static bool is_fs(const char *path, long magic)
{
	struct statfs st;
	return statfs(path, &st) == 0 && st.f_type == magic;
}

/* Where tracepoints are listed; mounts tracefs when nothing is. */
static const char *ensure_tracefs(void)
{
	if (is_fs("/sys/kernel/tracing", TRACEFS_MAGIC))
		return "/sys/kernel/tracing";
	if (is_fs("/sys/kernel/debug/tracing", TRACEFS_MAGIC))
		return "/sys/kernel/debug/tracing";
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) != 0)
		die(1, "tracefs is not mounted and mounting it on /sys/kernel/tracing failed: %s (errno %d)",
		    strerror(errno), errno);
	return "/sys/kernel/tracing";
}

static bool tracepoint_exists(const char *tracefs, const char *syscall)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/events/syscalls/sys_enter_%s", tracefs, syscall);
	return access(path, F_OK) == 0;
}

/* The cgroup hierarchy whose ids name a process's cgroup: the unified one on a pure v2 host,
 * else a v1 controller's (runtimes always place containers there; not all join v2 on hybrid
 * hosts). Returns the code the BPF side takes and sets `label` ("name:mountpoint"). */
static __u32 pick_cgroup(char *label, size_t size)
{
	static const char *v1[] = { "pids", "memory", "cpu", "cpuacct" };
	const char *want = opt.cgroup ? opt.cgroup : "";
	char unified[PATH_MAX] = "", v1mount[4][PATH_MAX] = { "", "", "", "" };
	char dev[256], dir[PATH_MAX], type[64], opts[1024];
	FILE *f = fopen("/proc/self/mounts", "r");
	while (f && fscanf(f, "%255s %4095s %63s %1023s %*d %*d", dev, dir, type, opts) == 4) {
		if (strcmp(type, "cgroup2") == 0 && unified[0] == '\0')
			snprintf(unified, sizeof(unified), "%s", dir);
		if (strcmp(type, "cgroup") != 0)
			continue;
		char *save = NULL;
		for (char *tok = strtok_r(opts, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			for (int i = 0; i < 4; i++) {
				if (strcmp(tok, v1[i]) == 0 && v1mount[i][0] == '\0')
					snprintf(v1mount[i], PATH_MAX, "%s", dir);
			}
		}
	}
	if (f)
		fclose(f);
	bool pure_v2 = strcmp(unified, "/sys/fs/cgroup") == 0;
	if (strcmp(want, "unified") != 0 && !(pure_v2 && want[0] == '\0')) {
		for (int i = 0; i < 4; i++) {
			if (v1mount[i][0] == '\0' || (want[0] != '\0' && strcmp(want, v1[i]) != 0))
				continue;
			snprintf(label, size, "%s:%s", v1[i], v1mount[i]);
			return i + 1;
		}
		if (want[0] != '\0')
			die(1, "--cgroup-hierarchy %s: no such cgroup v1 controller is mounted", want);
	}
	if (unified[0] == '\0' && want[0] != '\0')
		die(1, "--cgroup-hierarchy unified: no cgroup2 file system is mounted");
	snprintf(label, size, "%s%s", unified[0] ? "unified:" : "none:", unified);
	return 0;
}

/* ---- output ------------------------------------------------------------------------------- */

/*
 * Records wait here between the ring and stdout. The ring is drained as fast as the BPF side
 * fills it; stdout (a pipe to the agent) is written without blocking as fast as the agent reads.
 * A pause of the agent (a garbage collection, a burst of rule matches) is absorbed by this
 * buffer, up to --buffer-bytes, instead of by the ring, whose overflow loses events. Bytes
 * [out_start, out_start + out_len) are pending.
 */
static __u8 *out;
static size_t out_cap, out_start, out_len;
/* Room kept above the drain limit: the largest record, so a record always fits. */
#define OUT_SLACK (128u << 10)
static volatile sig_atomic_t stopping;

/* Writes what stdout takes now; returns whether anything was written. Exits quietly when the
 * reader is gone. */
static bool write_some(void)
{
	bool wrote = false;
	while (out_len > 0) {
		ssize_t n = write(STDOUT_FILENO, out + out_start, out_len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			/* The reader is gone (EPIPE): nothing left to do. */
			exit(errno == EPIPE ? 0 : 1);
		}
		out_start += n;
		out_len -= n;
		wrote = true;
	}
	/* Move the pending bytes to the front only when fewer remain than were written since the
	 * last move: each byte is moved at most about once. */
	if (out_start > 0 && out_start >= out_len) {
		memmove(out, out + out_start, out_len);
		out_start = 0;
	}
	return wrote;
}

/* Writes everything pending, waiting for the reader as long as `deadline_ms` allows. */
static void flush_all(int deadline_ms)
{
	struct pollfd p = { .fd = STDOUT_FILENO, .events = POLLOUT };
	while (out_len > 0) {
		if (!write_some() && poll(&p, 1, deadline_ms) <= 0)
			return;
	}
}

/* Room for a record of `size` payload bytes (plus its prefix); returns where to write it. */
static __u8 *reserve(size_t size)
{
	if (out_start + out_len + 4 + size > out_cap && out_start > 0) {
		memmove(out, out + out_start, out_len);
		out_start = 0;
	}
	if (out_len + 4 + size > out_cap) {
		/* Only a record larger than the slack could get here: make room by waiting. */
		flush_all(1000);
		if (out_len + 4 + size > out_cap)
			die(1, "output buffer overflow");
	}
	__u32 len = size;
	__u8 *at = out + out_start + out_len;
	memcpy(at, &len, 4);
	out_len += 4 + size;
	return at + 4;
}

static void put_str(__u8 **p, const void *bytes, size_t len, bool truncated)
{
	__u16 h = (len & VIGIL_STR_LEN_MASK) | (truncated ? VIGIL_STR_TRUNCATED : 0);
	memcpy(*p, &h, 2);
	memcpy(*p + 2, bytes, len);
	*p += 2 + len;
}

static __u64 clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void write_header(const char *cgroup, const char *events)
{
	/* Boot clock to wall clock: sampled between two reads of the wall clock. */
	__u64 w1 = clock_ns(CLOCK_REALTIME), b = clock_ns(CLOCK_BOOTTIME), w2 = clock_ns(CLOCK_REALTIME);
	struct vigil_header_record h = {
		.type = VR_HEADER,
		.version = VIGIL_FORMAT_VERSION,
		.sensor_pid = getpid(),
		.boot_to_epoch_ns = w1 / 2 + w2 / 2 - b,
		.ring_bytes = opt.ring_bytes,
		.argv_max = opt.argv_max,
		.arg_len = opt.arg_len,
		.env_bytes = opt.env_bytes,
	};
	size_t cl = strlen(cgroup), el = strlen(events);
	__u8 *p = reserve(sizeof(h) + 2 + cl + 2 + el);
	memcpy(p, &h, sizeof(h));
	p += sizeof(h);
	put_str(&p, cgroup, cl, false);
	put_str(&p, events, el, false);
	flush_all(-1);
}

/* Reads string `*p` (prefix and bytes) of a BPF record; false when it overruns `end`. */
static bool take_str(const __u8 **p, const __u8 *end, const __u8 **bytes, size_t *len, bool *truncated)
{
	if (*p + 2 > end)
		return false;
	__u16 h;
	memcpy(&h, *p, 2);
	*len = h & VIGIL_STR_LEN_MASK;
	*truncated = (h & VIGIL_STR_TRUNCATED) != 0;
	*bytes = *p + 2;
	if (*bytes + *len > end)
		return false;
	*p = *bytes + *len;
	return true;
}

/*
 * Splits a raw NUL-separated area into at most `max` strings of at most `len_max` bytes each.
 * Writes them at `*w` (when w is non-NULL) and returns how many; `*cut` is set when anything
 * was left out or shortened.
 */
static __u32 split_area(const __u8 *area, size_t size, bool area_cut, __u32 max, __u32 len_max, __u8 **w, bool *cut)
{
	__u32 n = 0;
	size_t at = 0;
	while (at < size) {
		const __u8 *nul = memchr(area + at, 0, size - at);
		size_t len = nul ? (size_t)(nul - (area + at)) : size - at;
		bool last_partial = !nul && area_cut;
		if (n == max) {
			*cut = true;
			break;
		}
		bool shortened = len > len_max || last_partial;
		if (shortened)
			*cut = true;
		if (w)
			put_str(w, area + at, len > len_max ? len_max : len, shortened);
		n++;
		at += len + 1;
	}
	if (area_cut)
		*cut = true;
	return n;
}

/* An exec record from the BPF side has raw argument and environment areas; the agent gets
 * them as separate strings, limited in count and length. */
static void write_exec(const __u8 *rec, size_t size)
{
	const struct vigil_event_header *h = (const void *)rec;
	size_t nums_bytes = (size_t)h->nnum * 8;
	if (size < sizeof(*h) + nums_bytes || h->nnum != EXEC_NUMS || h->nstr != EXEC_FIXED + 2)
		return;
	const __u8 *p = rec + sizeof(*h) + nums_bytes, *end = rec + size;
	const __u8 *fixed_start = p;
	const __u8 *b;
	size_t len;
	bool t;
	for (int i = 0; i < EXEC_FIXED; i++) {
		if (!take_str(&p, end, &b, &len, &t))
			return;
	}
	size_t fixed_bytes = p - fixed_start;
	const __u8 *args, *env;
	size_t args_len, env_len;
	bool args_cut, env_cut;
	if (!take_str(&p, end, &args, &args_len, &args_cut) || !take_str(&p, end, &env, &env_len, &env_cut))
		return;
	__u64 nums[EXEC_NUMS];
	memcpy(nums, rec + sizeof(*h), sizeof(nums));
	args_cut = args_cut || nums[EXEC_ARGS_BYTES] > args_len;
	env_cut = env_cut || nums[EXEC_ENV_BYTES] > env_len;

	bool argv_cut = false, envp_cut = false;
	__u32 argc = split_area(args, args_len, args_cut, opt.argv_max, opt.arg_len, NULL, &argv_cut);
	__u32 envc = opt.env_bytes ? split_area(env, env_len, env_cut, opt.env_max, opt.arg_len, NULL, &envp_cut) : 0;
	/* Every split string is at most its source plus a 2-byte prefix per string. */
	size_t out_size = sizeof(*h) + nums_bytes + fixed_bytes + args_len + env_len + 2 * (argc + envc);
	__u8 *w = reserve(out_size);
	__u8 *start = w;
	struct vigil_event_header nh = *h;
	nh.nstr = EXEC_FIXED + argc + envc;
	if (argv_cut)
		nh.flags |= VF_ARGV_TRUNCATED;
	if (envp_cut)
		nh.flags |= VF_ENV_TRUNCATED;
	nums[EXEC_ARGC] = argc;
	memcpy(w, &nh, sizeof(nh));
	w += sizeof(nh);
	memcpy(w, nums, sizeof(nums));
	w += sizeof(nums);
	memcpy(w, fixed_start, fixed_bytes);
	w += fixed_bytes;
	bool ignore;
	split_area(args, args_len, args_cut, opt.argv_max, opt.arg_len, &w, &ignore);
	if (opt.env_bytes)
		split_area(env, env_len, env_cut, opt.env_max, opt.arg_len, &w, &ignore);
	/* Shrink the reservation to what was written (strings cut at the limits are shorter). */
	size_t used = w - start;
	__u32 real = used;
	memcpy(start - 4, &real, 4);
	out_len -= out_size - used;
}

/* Stops a drain: the buffer is full (the record at hand is stored all the same). */
#define DRAIN_FULL (-ENOSPC)

/* Whether there is room to drain more of the ring (the slack above it holds the last record). */
static bool room_to_drain(void)
{
	return out_start + out_len < out_cap - OUT_SLACK;
}

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	const struct vigil_event_header *h = data;
	if (size >= sizeof(*h) && (h->type == VE_EXECVE || h->type == VE_EXECVEAT))
		write_exec(data, size);
	else
		memcpy(reserve(size), data, size);
	return room_to_drain() ? 0 : DRAIN_FULL;
}

static void write_stats(int counters_fd, const bool *type_on)
{
	int ncpu = libbpf_num_possible_cpus();
	struct { __u64 sent, lost; } per_cpu[ncpu > 0 ? ncpu : 1];
	struct vigil_stats_entry entries[VR_TYPE_MAX];
	__u16 n = 0;
	for (__u32 type = 0; type < VR_TYPE_MAX; type++) {
		if (!type_on[type])
			continue;
		struct vigil_stats_entry e = { .type = type };
		if (bpf_map_lookup_elem(counters_fd, &type, per_cpu) == 0) {
			for (int c = 0; c < ncpu; c++) {
				e.sent += per_cpu[c].sent;
				e.lost += per_cpu[c].lost;
			}
		}
		entries[n++] = e;
	}
	struct vigil_stats_record r = { .type = VR_STATS, .count = n, .ts = clock_ns(CLOCK_BOOTTIME) };
	__u8 *p = reserve(sizeof(r) + n * sizeof(entries[0]));
	memcpy(p, &r, sizeof(r));
	memcpy(p + sizeof(r), entries, n * sizeof(entries[0]));
}

/* ---- main --------------------------------------------------------------------------------- */

/*
 * libbpf's warnings, on stderr. A verifier log runs to thousands of lines and the agent keeps
 * only the first few lines of a helper's stderr: only the log's last lines, where the verifier
 * says what it refused, are passed on.
 */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	char *text = NULL;
	if (vasprintf(&text, fmt, ap) < 0 || !text)
		return 0;
	char *begin = strstr(text, "-- BEGIN PROG LOAD LOG --");
	if (begin) {
		char *end = strstr(begin, "-- END PROG LOAD LOG --");
		char *tail = end ? end : begin + strlen(begin);
		int lines = 0;
		while (tail > begin && lines < 8) {
			tail--;
			if (*tail == '\n')
				lines++;
		}
		fprintf(stderr, "%.*s(verifier log cut to its last lines)\n%s", (int)(begin - text), text, tail + 1);
	} else {
		fputs(text, stderr);
	}
	free(text);
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	/* Stop with the agent, even when it is killed outright. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);

	if (!has_capabilities())
		die(1, "not permitted to load BPF programs: run as root or with CAP_BPF and CAP_PERFMON "
		       "(or CAP_SYS_ADMIN)");
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
		die(1, "this kernel has no BTF (/sys/kernel/btf/vmlinux: %s): it needs CONFIG_DEBUG_INFO_BTF=y",
		    strerror(errno));
	const char *tracefs = ensure_tracefs();

	char cgroup[PATH_MAX + 32];
	__u32 cgroup_code = pick_cgroup(cgroup, sizeof(cgroup));

	libbpf_set_print(libbpf_log);
	struct vigil_sensor_bpf *skel = vigil_sensor_bpf__open();
	if (!skel)
		die(1, "cannot open the BPF object: %s (errno %d)", strerror(errno), errno);

	skel->rodata->ignore_tgid[0] = getpid();
	for (int i = 0; i < opt.n_ignore; i++)
		skel->rodata->ignore_tgid[i + 1] = opt.ignore[i];
	/* Each string of an exec is read at most this long from the process's memory. */
	__u64 args_area = (__u64)opt.argv_max * (opt.arg_len + 1);
	skel->rodata->args_area_max = args_area > 16000 ? 16000 : args_area;
	skel->rodata->env_area_max = opt.env_bytes > 16000 ? 16000 : opt.env_bytes;
	skel->rodata->wakeup_bytes = opt.wakeup_bytes;
	skel->rodata->cgroup_hierarchy = cgroup_code;

	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		die(1, "cannot count the CPUs: %s", strerror(-ncpu));
	bpf_map__set_max_entries(skel->maps.scratch_area, ncpu);
	bpf_map__set_max_entries(skel->maps.events, opt.ring_bytes);

	/* Autoload only what the requested events need; note what each needs attached. */
	struct bpf_program *prog;
	int n_progs = 0;
	bpf_object__for_each_program(prog, skel->obj) n_progs++;
	bool *prog_on = calloc(n_progs, sizeof(bool));
	if (!prog_on)
		die(1, "out of memory");
	bool type_on[VR_TYPE_MAX] = { false };
	char events[2048] = "";
	size_t events_len = 0;
	for (size_t i = 0; i < N_EVENTS; i++) {
		if (!opt.wanted[i])
			continue;
		if (EVENTS[i].syscall && !tracepoint_exists(tracefs, EVENTS[i].syscall)) {
			fprintf(stderr, "vigil-sensor: note: %s is not traced: this kernel has no syscalls/sys_enter_%s tracepoint\n",
				EVENTS[i].name, EVENTS[i].syscall);
			continue;
		}
		type_on[EVENTS[i].type] = true;
		events_len += snprintf(events + events_len, sizeof(events) - events_len, "%s%s", events_len ? "," : "",
				       EVENTS[i].name);
		for (int p = 0; p < 3 && EVENTS[i].progs[p]; p++) {
			int idx = 0;
			bool found = false;
			bpf_object__for_each_program(prog, skel->obj)
			{
				if (strcmp(bpf_program__name(prog), EVENTS[i].progs[p]) == 0) {
					prog_on[idx] = true;
					found = true;
				}
				idx++;
			}
			if (!found)
				die(1, "internal error: no BPF program %s for %s", EVENTS[i].progs[p], EVENTS[i].name);
		}
	}
	int idx = 0;
	bpf_object__for_each_program(prog, skel->obj)
	{
		bpf_program__set_autoload(prog, prog_on[idx]);
		idx++;
	}

	int err = vigil_sensor_bpf__load(skel);
	if (err)
		die(1, "cannot load the BPF programs (verifier or kernel refused them; details above): %s (errno %d)",
		    strerror(-err), -err);

	idx = 0;
	bpf_object__for_each_program(prog, skel->obj)
	{
		if (prog_on[idx]) {
			struct bpf_link *link = bpf_program__attach(prog);
			if (!link) {
				int e = errno;
				die(1, "cannot attach %s (%s): %s (errno %d)", bpf_program__name(prog),
				    bpf_program__section_name(prog), strerror(e), e);
			}
		}
		idx++;
	}

	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_record, NULL, NULL);
	if (!rb)
		die(1, "cannot open the ring buffer: %s (errno %d)", strerror(errno), errno);

	out_cap = opt.buffer_bytes + OUT_SLACK;
	/* Untouched pages cost nothing: the buffer only takes memory while the agent lags. */
	out = malloc(out_cap);
	if (!out)
		die(1, "cannot allocate the %llu-byte output buffer", (unsigned long long)out_cap);

	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	write_header(cgroup, events);

	int counters_fd = bpf_map__fd(skel->maps.counters);
	__u64 next_stats = clock_ns(CLOCK_MONOTONIC) + (__u64)opt.stats_ms * 1000000;
	/* The agent reads stdout at its own pace: writes must not block the draining of the ring. */
	fcntl(STDOUT_FILENO, F_SETFL, fcntl(STDOUT_FILENO, F_GETFL) | O_NONBLOCK);
	/* A larger pipe lets the agent read in bigger gulps (best effort; capped by the system). */
	fcntl(STDOUT_FILENO, F_SETPIPE_SZ, 1 << 20);
	int epoll_fd = ring_buffer__epoll_fd(rb);
	while (!stopping) {
		bool progress = write_some();
		if (room_to_drain()) {
			int n = ring_buffer__consume(rb);
			if (n < 0 && n != DRAIN_FULL && n != -EINTR)
				die(1, "reading the ring buffer failed: %s (errno %d)", strerror(-n), -n);
			progress = progress || n != 0;
		}
		__u64 now = clock_ns(CLOCK_MONOTONIC);
		if (now >= next_stats) {
			write_stats(counters_fd, type_on);
			next_stats = now + (__u64)opt.stats_ms * 1000000;
		}
		if (progress)
			continue;
		/* Nothing moved: sleep until the ring has data (wake-ups are batched on the BPF
		 * side, hence the short timeout) or, with records pending, stdout has room. */
		struct pollfd fds[2] = {
			{ .fd = epoll_fd, .events = room_to_drain() ? POLLIN : 0 },
			{ .fd = STDOUT_FILENO, .events = out_len > 0 ? POLLOUT : 0 },
		};
		if (poll(fds, 2, 10) < 0 && errno != EINTR)
			die(1, "poll failed: %s (errno %d)", strerror(errno), errno);
	}
	ring_buffer__consume(rb);
	write_stats(counters_fd, type_on);
	flush_all(2000);
	ring_buffer__free(rb);
	vigil_sensor_bpf__destroy(skel);
	return 0;
}
