// SPDX-License-Identifier: GPL-2.0-only OR Apache-2.0
/*
 * Vigil's kernel sensor: CO-RE BPF programs on tracepoints that describe process, file and
 * network activity as records (sensor-records.h) in a BPF ring buffer.
 *
 * Only tracepoints are used (the machines we target lock kprobes, fentry and LSM programs out):
 * sched_process_{fork,exec,exit} through tp_btf for the process life cycle, and one
 * syscalls/sys_enter_X + sys_exit_X pair per traced syscall. The loader autoloads and attaches
 * only the pairs for the event types it was asked for, so an untraced syscall costs nothing.
 *
 * A syscall's entry program only saves its arguments (keyed by thread id); the exit program
 * reads user memory (paths, socket addresses) — at entry the pages may not be faulted in yet —
 * and writes one record with the result. Records are built in a per-CPU scratch area and copied
 * into the ring with their exact size; wake-ups are batched (see submit()).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "sensor-records.h"

/* The kernel refuses the probe-read helpers to programs that are not GPL-compatible. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define AT_FDCWD -100
#define EAGAIN 11
#define EINPROGRESS 115
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFDIR 0040000
#define S_IFIFO 0010000
#define S_IFREG 0100000
#define S_IFCHR 0020000
#define S_IFBLK 0060000
#define S_IFLNK 0120000
#define OVERLAYFS_SUPER_MAGIC 0x794c7630

/*
 * Kernel types this program reads that a build host's vmlinux.h may lack (overlayfs built as a
 * module): local definitions of just the members used. CO-RE matches them to the running
 * kernel's types by name, ignoring the ___vigil suffix, and fixes up the offsets at load time.
 */
struct ovl_inode___vigil {
	struct inode vfs_inode;
	struct dentry *__upperdentry;
} __attribute__((preserve_access_index));

/* openat2's argument: a user-space ABI, laid out the same on every kernel. */
struct vigil_open_how {
	__u64 flags;
	__u64 mode;
	__u64 resolve;
};

/* ---- configuration, set by the loader before load ------------------------------------------ */

/* Processes whose activity is not reported: the loader and the agent (0 = unused slot). */
const volatile __u32 ignore_tgid[4] = {};
/* Bytes read from a new program's argument and environment areas. */
const volatile __u32 args_area_max = 16384;
const volatile __u32 env_area_max = 4096;
/* Wake the reader once this many bytes wait in the ring; below it the reader polls. */
const volatile __u64 wakeup_bytes = 256 * 1024;
/* Which cgroup hierarchy names a process's cgroup: 0 = the unified (v2) one, else a v1
 * controller's: 1 pids, 2 memory, 3 cpu, 4 cpuacct. */
const volatile __u32 cgroup_hierarchy = 0;

/* ---- maps ---------------------------------------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024); /* resized by the loader */
} events SEC(".maps");

/* The arguments of a syscall in progress, by thread id, from entry to exit. LRU: a thread that
 * never returns (killed mid-call) must not hold its slot for ever. */
struct pending_call {
	__u64 args[6];
	__u32 type;
	__u32 reserved;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct pending_call);
} pending SEC(".maps");

/* Record building area. Field writes start below REC_FIELD_MASK + 1 and are at most
 * REC_FIELD_MAX long, so every write the verifier sees stays inside `rec`. */
#define REC_FIELD_MASK 0xffff
#define REC_FIELD_MAX 0x4000
#define REC_BYTES (REC_FIELD_MASK + 1 + REC_FIELD_MAX + 16)
/* Paths are assembled backwards in `path`, ending at PATH_END. */
#define PATH_END 4096
#define PATH_MASK (PATH_END - 1)
#define NAME_MASK 0xff
#define PATH_DEPTH 40

struct scratch {
	__u8 rec[REC_BYTES];
	__u8 path[PATH_END + NAME_MASK + 1];
	__u32 walk_pos;
	__u16 walk_flag;
};

/* One scratch area per CPU (an array indexed by CPU: per-CPU maps cap values at 32 KiB).
 * Programs run with preemption off, so one CPU builds one record at a time. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* set to the number of possible CPUs by the loader */
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_area SEC(".maps");

struct type_counters {
	__u64 sent;
	__u64 lost;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VR_TYPE_MAX);
	__type(key, __u32);
	__type(value, struct type_counters);
} counters SEC(".maps");

/* Last destination of an unconnected datagram socket, by (tgid << 32 | fd): sendto/sendmsg are
 * reported only when it changes (what Falco calls fd.name_changed). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} datagram_peers SEC(".maps");

/* ---- tracepoint contexts ------------------------------------------------------------------- */

struct sys_enter_ctx {
	__u64 common;
	__s64 syscall_nr;
	__u64 args[6];
};

struct sys_exit_ctx {
	__u64 common;
	__s64 syscall_nr;
	__s64 ret;
};

/* ---- helpers ------------------------------------------------------------------------------- */

static __always_inline bool ignored(__u32 tgid)
{
	for (int i = 0; i < 4; i++) {
		if (ignore_tgid[i] != 0 && ignore_tgid[i] == tgid)
			return true;
	}
	return false;
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&scratch_area, &cpu);
}

static __always_inline void count(__u32 type, bool sent)
{
	struct type_counters *c = bpf_map_lookup_elem(&counters, &type);
	if (!c)
		return;
	if (sent)
		c->sent++;
	else
		c->lost++;
}

static __always_inline __u64 cgroup_of(struct task_struct *task)
{
	switch (cgroup_hierarchy) {
	case 1:
		return BPF_CORE_READ(task, cgroups, subsys[bpf_core_enum_value(enum cgroup_subsys_id, pids_cgrp_id)],
				     cgroup, kn, id);
	case 2:
		return BPF_CORE_READ(task, cgroups,
				     subsys[bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id)], cgroup, kn,
				     id);
	case 3:
		return BPF_CORE_READ(task, cgroups, subsys[bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id)],
				     cgroup, kn, id);
	case 4:
		return BPF_CORE_READ(task, cgroups,
				     subsys[bpf_core_enum_value(enum cgroup_subsys_id, cpuacct_cgrp_id)], cgroup,
				     kn, id);
	default:
		return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	}
}

/* The task's thread group id in its own (innermost) pid namespace. */
static __always_inline __u32 vpid_of(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, group_leader, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	__u32 nr = 0;
	bpf_core_read(&nr, sizeof(nr), &pid->numbers[level & 31].nr);
	return nr;
}

/* A number from a pid namespace view of another pid (session, process group). */
static __always_inline __u32 pid_nr_in_ns(struct pid *pid)
{
	if (!pid)
		return 0;
	unsigned int level = BPF_CORE_READ(pid, level);
	__u32 nr = 0;
	bpf_core_read(&nr, sizeof(nr), &pid->numbers[level & 31].nr);
	return nr;
}

static __always_inline void fill_header(struct vigil_event_header *h, __u16 type, struct task_struct *task,
					__u32 pid, __u32 tid, __s64 res)
{
	h->type = type;
	h->flags = 0;
	h->nnum = 0;
	h->reserved0 = 0;
	h->nstr = 0;
	h->ts = bpf_ktime_get_boot_ns();
	h->cgroup = cgroup_of(task);
	h->res = res;
	h->pid = pid;
	h->tid = tid;
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	const struct cred *cred = BPF_CORE_READ(task, cred);
	h->uid = BPF_CORE_READ(cred, euid.val);
	h->gid = BPF_CORE_READ(cred, egid.val);
	if (bpf_core_field_exists(task->loginuid))
		h->loginuid = BPF_CORE_READ(task, loginuid.val);
	else
		h->loginuid = 0xffffffff;
	h->vpid = vpid_of(task);
	h->reserved1 = 0;
	BPF_CORE_READ_STR_INTO(&h->comm, task, comm);
}

/* Starts a record for the current task; returns the offset after the header. */
static __always_inline __u32 begin_current(struct scratch *s, __u16 type, __s64 res)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();
	fill_header((struct vigil_event_header *)s->rec, type, task, id >> 32, (__u32)id, res);
	return sizeof(struct vigil_event_header);
}

static __always_inline void put_num(struct scratch *s, __u32 *off, __u64 v)
{
	__u32 o = *off & REC_FIELD_MASK;
	__builtin_memcpy(&s->rec[o], &v, sizeof(v));
	*off += sizeof(v);
	((struct vigil_event_header *)s->rec)->nnum++;
}

static __always_inline void put_len(struct scratch *s, __u32 o, __u16 len)
{
	s->rec[o & REC_FIELD_MASK] = len & 0xff;
	s->rec[(o + 1) & REC_FIELD_MASK] = len >> 8;
}

static __always_inline void put_empty(struct scratch *s, __u32 *off)
{
	put_len(s, *off, 0);
	*off += 2;
	((struct vigil_event_header *)s->rec)->nstr++;
}

/* A NUL-terminated user string of at most `max` bytes (max <= REC_FIELD_MAX - 2). */
static __always_inline void put_user_str(struct scratch *s, __u32 *off, const void *ptr, __u32 max)
{
	__u32 o = *off & REC_FIELD_MASK;
	long n = 0;
	if (ptr)
		n = bpf_probe_read_user_str(&s->rec[o + 2], max & (REC_FIELD_MAX - 1), ptr);
	__u16 len = n > 0 ? n - 1 : 0;
	/* n == max: the string filled the buffer, its real end was not seen. */
	__u16 flag = (n > 0 && n >= (long)max) ? VIGIL_STR_TRUNCATED : 0;
	put_len(s, o, len | flag);
	*off = o + 2 + len;
	((struct vigil_event_header *)s->rec)->nstr++;
}

static __always_inline void put_kernel_str(struct scratch *s, __u32 *off, const void *ptr, __u32 max)
{
	__u32 o = *off & REC_FIELD_MASK;
	long n = 0;
	if (ptr)
		n = bpf_probe_read_kernel_str(&s->rec[o + 2], max & (REC_FIELD_MAX - 1), ptr);
	__u16 len = n > 0 ? n - 1 : 0;
	__u16 flag = (n > 0 && n >= (long)max) ? VIGIL_STR_TRUNCATED : 0;
	put_len(s, o, len | flag);
	*off = o + 2 + len;
	((struct vigil_event_header *)s->rec)->nstr++;
}

/* Exactly `len` bytes (possibly containing NULs) of user memory. */
static __always_inline void put_user_bytes(struct scratch *s, __u32 *off, const void *ptr, __u32 len, __u16 flag)
{
	__u32 o = *off & REC_FIELD_MASK;
	if (len > REC_FIELD_MAX - 2)
		len = REC_FIELD_MAX - 2;
	if (!ptr || bpf_probe_read_user(&s->rec[o + 2], len, ptr) != 0)
		len = 0;
	put_len(s, o, len | flag);
	*off = o + 2 + len;
	((struct vigil_event_header *)s->rec)->nstr++;
}

static __always_inline void put_kernel_bytes(struct scratch *s, __u32 *off, const void *ptr, __u32 len)
{
	__u32 o = *off & REC_FIELD_MASK;
	if (len > 255)
		len = 255;
	if (!ptr || bpf_probe_read_kernel(&s->rec[o + 2], len, ptr) != 0)
		len = 0;
	put_len(s, o, len);
	*off = o + 2 + len;
	((struct vigil_event_header *)s->rec)->nstr++;
}

/*
 * Writes the path of (dentry, vfsmount) as the task sees it: walking up to the task's root,
 * crossing mount points. Components are written backwards into s->path, then copied as one
 * string. A path deeper than PATH_DEPTH or longer than PATH_END is marked truncated.
 *
 * The write position and the truncation flag live in the scratch map, not in registers: the
 * verifier then sees the same state at the top of every iteration whichever branch ran, and
 * prunes, instead of exploring every combination of branches over all iterations.
 */
static __always_inline void put_dentry_path(struct scratch *s, __u32 *off, struct task_struct *task,
					    struct dentry *dentry, struct vfsmount *vfsmnt)
{
	struct dentry *root_dentry = BPF_CORE_READ(task, fs, root.dentry);
	struct vfsmount *root_mnt = BPF_CORE_READ(task, fs, root.mnt);
	struct mount *mnt = (struct mount *)((void *)vfsmnt - bpf_core_field_offset(struct mount, mnt));

	if (!dentry || !vfsmnt) {
		put_empty(s, off);
		return;
	}
	s->walk_pos = PATH_END;
	s->walk_flag = VIGIL_STR_TRUNCATED;
	for (int i = 0; i < PATH_DEPTH; i++) {
		if (dentry == root_dentry && vfsmnt == root_mnt) {
			s->walk_flag = 0;
			break;
		}
		struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
		if (dentry == mnt_root) {
			struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
			if (up == mnt) {
				/* The root of the mount tree: the task's root is outside it (chroot
				 * escapes do this); the path so far is absolute from here. */
				s->walk_flag = 0;
				break;
			}
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = up;
			vfsmnt = (struct vfsmount *)((void *)up + bpf_core_field_offset(struct mount, mnt));
			continue;
		}
		struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
		struct qstr name = BPF_CORE_READ(dentry, d_name);
		__u32 len = name.len & NAME_MASK;
		__u32 pos = s->walk_pos;
		if (pos > PATH_END || len + 1 > pos)
			break;
		pos -= len;
		bpf_probe_read_kernel(&s->path[pos & PATH_MASK], len, name.name);
		pos -= 1;
		s->path[pos & PATH_MASK] = '/';
		s->walk_pos = pos;
		if (dentry == parent) {
			/* A dentry of no directory (pipes, sockets, memfd files): its name is all. */
			s->walk_flag = 0;
			break;
		}
		dentry = parent;
	}
	__u32 pos = s->walk_pos;
	if (pos >= PATH_END) {
		pos = PATH_END - 1;
		s->path[pos] = '/';
	}
	__u32 len = PATH_END - pos;
	if (len > PATH_END)
		len = PATH_END;
	__u32 o = *off & REC_FIELD_MASK;
	bpf_probe_read_kernel(&s->rec[o + 2], len, &s->path[pos & PATH_MASK]);
	put_len(s, o, len | s->walk_flag);
	*off = o + 2 + len;
	((struct vigil_event_header *)s->rec)->nstr++;
}

static __always_inline struct file *file_of_fd(struct task_struct *task, long fd)
{
	if (fd < 0)
		return NULL;
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	if ((unsigned long)fd >= max)
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_core_read(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline void put_file_path(struct scratch *s, __u32 *off, struct task_struct *task, struct file *f)
{
	if (!f) {
		put_empty(s, off);
		return;
	}
	put_dentry_path(s, off, task, BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt));
}

/*
 * A path argument: the string as passed, then (when it is relative) the directory it is
 * relative to — the working directory for AT_FDCWD, else the directory fd's path.
 */
static __always_inline void put_path_arg(struct scratch *s, __u32 *off, long dirfd, const char *user_path)
{
	__u32 at = *off & REC_FIELD_MASK;
	put_user_str(s, off, user_path, PATH_END + 1);
	__u8 first = s->rec[(at + 2) & REC_FIELD_MASK];
	if (*off == at + 2 || first == '/') {
		put_empty(s, off);
		return;
	}
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if ((int)dirfd == AT_FDCWD)
		put_dentry_path(s, off, task, BPF_CORE_READ(task, fs, pwd.dentry), BPF_CORE_READ(task, fs, pwd.mnt));
	else
		put_file_path(s, off, task, file_of_fd(task, (int)dirfd));
}

/* Copies the finished record into the ring, batching wake-ups, and counts it. */
static __always_inline void submit(struct scratch *s, __u32 end)
{
	__u16 type = ((struct vigil_event_header *)s->rec)->type;
	__u64 len = end;
	/* An explicit 64-bit bound the verifier keeps across the helper call. */
	asm volatile("%[len] &= %[mask]" : [len] "+r"(len) : [mask] "i"(0x1ffff));
	if (len > REC_BYTES)
		return;
	/* Wake the reader only when this record takes the backlog across the threshold: past it,
	 * the reader is awake or about to be, and a wake-up per record (an interrupt-work item each)
	 * would slow the traced program down several times over. The reader also drains on a
	 * short poll timeout, so a quiet ring below the threshold is still read. */
	__u64 waiting = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 flags = waiting < wakeup_bytes && waiting + len >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	long err = bpf_ringbuf_output(&events, s->rec, len, flags);
	count(type, err == 0);
}

/* ---- sockets ------------------------------------------------------------------------------- */

static __always_inline struct sock *sock_of_file(struct file *f, __u16 *sotype)
{
	if (!f)
		return NULL;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	if (!sock)
		return NULL;
	*sotype = BPF_CORE_READ(sock, type);
	return BPF_CORE_READ(sock, sk);
}

/* The socket tuple from the kernel's view of `sk`: family, protocol, ports, addresses. Unix
 * sockets give their own bound path, else their peer's. `remote` is written only when
 * `with_remote` (connect and sendto take the remote from the caller's sockaddr instead). */
static __always_inline void put_sock_tuple(struct scratch *s, __u32 *off, long fd, struct sock *sk, __u16 sotype,
					   __u64 extra, bool with_remote)
{
	__u16 family = sk ? BPF_CORE_READ(sk, __sk_common.skc_family) : 0;
	__u16 proto = sk ? BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) : 0;
	__u16 lport = 0, rport = 0;
	if (family == AF_INET || family == AF_INET6) {
		lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	}
	put_num(s, off, fd);
	put_num(s, off, family);
	put_num(s, off, proto);
	put_num(s, off, lport);
	put_num(s, off, with_remote ? rport : 0);
	put_num(s, off, sotype);
	put_num(s, off, extra);
	if (family == AF_INET) {
		__u32 la = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 ra = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__u32 o = *off & REC_FIELD_MASK;
		put_len(s, o, 4);
		__builtin_memcpy(&s->rec[(o + 2) & REC_FIELD_MASK], &la, 4);
		*off = o + 6;
		((struct vigil_event_header *)s->rec)->nstr++;
		if (with_remote) {
			o = *off & REC_FIELD_MASK;
			put_len(s, o, 4);
			__builtin_memcpy(&s->rec[(o + 2) & REC_FIELD_MASK], &ra, 4);
			*off = o + 6;
			((struct vigil_event_header *)s->rec)->nstr++;
		}
	} else if (family == AF_INET6) {
		__u32 o = *off & REC_FIELD_MASK;
		put_len(s, o, 16);
		bpf_core_read(&s->rec[(o + 2) & REC_FIELD_MASK], 16, &sk->__sk_common.skc_v6_rcv_saddr);
		*off = o + 18;
		((struct vigil_event_header *)s->rec)->nstr++;
		if (with_remote) {
			o = *off & REC_FIELD_MASK;
			put_len(s, o, 16);
			bpf_core_read(&s->rec[(o + 2) & REC_FIELD_MASK], 16, &sk->__sk_common.skc_v6_daddr);
			*off = o + 18;
			((struct vigil_event_header *)s->rec)->nstr++;
		}
	} else if (family == AF_UNIX) {
		struct unix_sock *us = (struct unix_sock *)sk;
		struct unix_address *addr = BPF_CORE_READ(us, addr);
		if (!addr) {
			struct unix_sock *peer = (struct unix_sock *)BPF_CORE_READ(us, peer);
			addr = peer ? BPF_CORE_READ(peer, addr) : NULL;
		}
		int alen = addr ? BPF_CORE_READ(addr, len) : 0;
		/* sun_path follows the 2-byte family; an abstract name starts with a NUL. */
		__u32 plen = alen > 2 ? (alen - 2) & 0xff : 0;
		const void *path = addr ? (const void *)addr + bpf_core_field_offset(struct unix_address, name) + 2 : NULL;
		put_kernel_bytes(s, off, path, plen > 108 ? 108 : plen);
		if (with_remote)
			put_empty(s, off);
	} else {
		put_empty(s, off);
		if (with_remote)
			put_empty(s, off);
	}
}

/* The remote end from the caller's sockaddr: sets the family and port numbers already written
 * by put_sock_tuple (at nums_at) and appends the address string. Returns false when the
 * sockaddr could not be read. */
static __always_inline bool put_user_sockaddr(struct scratch *s, __u32 *off, __u32 nums_at, const void *uaddr,
					      long addrlen)
{
	__u16 family = 0;
	if (!uaddr || bpf_probe_read_user(&family, sizeof(family), uaddr) != 0) {
		put_empty(s, off);
		return false;
	}
	__u64 rport = 0;
	if (family == AF_INET) {
		struct sockaddr_in sin = {};
		bpf_probe_read_user(&sin, sizeof(sin), uaddr);
		rport = bpf_ntohs(sin.sin_port);
		__u32 o = *off & REC_FIELD_MASK;
		put_len(s, o, 4);
		__builtin_memcpy(&s->rec[(o + 2) & REC_FIELD_MASK], &sin.sin_addr.s_addr, 4);
		*off = o + 6;
		((struct vigil_event_header *)s->rec)->nstr++;
	} else if (family == AF_INET6) {
		struct sockaddr_in6 sin6 = {};
		bpf_probe_read_user(&sin6, sizeof(sin6), uaddr);
		rport = bpf_ntohs(sin6.sin6_port);
		__u32 o = *off & REC_FIELD_MASK;
		put_len(s, o, 16);
		__builtin_memcpy(&s->rec[(o + 2) & REC_FIELD_MASK], &sin6.sin6_addr, 16);
		*off = o + 18;
		((struct vigil_event_header *)s->rec)->nstr++;
	} else if (family == AF_UNIX) {
		long plen = addrlen - 2;
		if (plen < 0)
			plen = 0;
		if (plen > 108)
			plen = 108;
		put_user_bytes(s, off, uaddr + 2, plen, 0);
	} else {
		put_empty(s, off);
	}
	__u32 n = nums_at & REC_FIELD_MASK;
	__u64 fam = family;
	__builtin_memcpy(&s->rec[(n + 8 * SOCK_FAMILY) & REC_FIELD_MASK], &fam, 8);
	__builtin_memcpy(&s->rec[(n + 8 * SOCK_RPORT) & REC_FIELD_MASK], &rport, 8);
	return true;
}

/* ---- entry: save the arguments ------------------------------------------------------------- */

/* `nargs` must be a constant: the kernel refuses to attach a program that reads past the
 * tracepoint's last argument, so the reads of absent arguments must not exist at all. */
static __always_inline int save_args(struct sys_enter_ctx *ctx, __u32 type, const int nargs)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (ignored(id >> 32))
		return 0;
	__u32 tid = (__u32)id;
	struct pending_call call = { .type = type };
	if (nargs > 0)
		call.args[0] = ctx->args[0];
	if (nargs > 1)
		call.args[1] = ctx->args[1];
	if (nargs > 2)
		call.args[2] = ctx->args[2];
	if (nargs > 3)
		call.args[3] = ctx->args[3];
	if (nargs > 4)
		call.args[4] = ctx->args[4];
	if (nargs > 5)
		call.args[5] = ctx->args[5];
	bpf_map_update_elem(&pending, &tid, &call, BPF_ANY);
	return 0;
}

/* The saved call of this thread if it is of `type` (copied: the slot is freed at once). */
static __always_inline bool take_args(__u32 type, struct pending_call *out)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct pending_call *call = bpf_map_lookup_elem(&pending, &tid);
	if (!call)
		return false;
	bool match = call->type == type;
	if (match)
		__builtin_memcpy(out, call, sizeof(*out));
	bpf_map_delete_elem(&pending, &tid);
	return match && !ignored(id >> 32);
}

#define ENTER(sys, type, nargs)                                                                   \
	SEC("tracepoint/syscalls/sys_enter_" #sys)                                                \
	int enter_##sys(struct sys_enter_ctx *ctx)                                                \
	{                                                                                         \
		return save_args(ctx, type, nargs);                                               \
	}

/* ---- process life cycle -------------------------------------------------------------------- */

static __always_inline __u64 tty_of(struct task_struct *task)
{
	struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
	if (!tty)
		return 0;
	int index = BPF_CORE_READ(tty, index);
	int major = BPF_CORE_READ(tty, driver, major);
	int minor_start = BPF_CORE_READ(tty, driver, minor_start);
	/* The device number as user space sees it: MKDEV(major, minor_start) + index, encoded
	 * as new_encode_dev() does. */
	__u32 dev = ((__u32)major << 20 | (__u32)minor_start) + index;
	__u32 ma = dev >> 20, mi = dev & 0xfffff;
	return (mi & 0xff) | (ma << 8) | ((mi & ~0xffu) << 12);
}

/* Which syscall created the task being forked: read from the parent's saved registers. */
static __always_inline __u64 fork_syscall(struct task_struct *parent)
{
	if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs))
		return CLONE_BY_CLONE;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(parent);
	long nr = -1;
#if defined(__TARGET_ARCH_x86)
	nr = BPF_CORE_READ(regs, orig_ax);
	if (nr == 57)
		return CLONE_BY_FORK;
	if (nr == 58)
		return CLONE_BY_VFORK;
	if (nr == 435)
		return CLONE_BY_CLONE3;
#elif defined(__TARGET_ARCH_arm64)
	nr = BPF_CORE_READ(regs, syscallno);
	if (nr == 435)
		return CLONE_BY_CLONE3;
#endif
	return CLONE_BY_CLONE;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	if (ignored(ptgid))
		return 0;
	__u32 pid = BPF_CORE_READ(child, tgid);
	__u32 tid = BPF_CORE_READ(child, pid);
	/* A new thread is not a new process: the process table needs only processes. */
	if (pid != tid)
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	fill_header((struct vigil_event_header *)s->rec, VE_CLONE, child, pid, tid, 0);
	__u32 off = sizeof(struct vigil_event_header);
	put_num(s, &off, fork_syscall(parent));
	put_num(s, &off, BPF_CORE_READ(parent, pid));
	put_num(s, &off, tty_of(child));
	submit(s, off);
	return 0;
}

/* The environment or argument area of the current (new) program, raw: NUL-separated. */
static __always_inline void put_area(struct scratch *s, __u32 *off, unsigned long start, unsigned long end,
				     __u32 max)
{
	unsigned long size = end > start ? end - start : 0;
	__u32 n = size > max ? max : size;
	put_user_bytes(s, off, (const void *)start, n, size > n ? VIGIL_STR_TRUNCATED : 0);
}

static __always_inline __u64 exe_flags(struct file *exe)
{
	__u64 flags = 0;
	if (!exe)
		return 0;
	struct inode *inode = BPF_CORE_READ(exe, f_inode);
	unsigned long magic = BPF_CORE_READ(inode, i_sb, s_magic);
	if (magic == OVERLAYFS_SUPER_MAGIC && bpf_core_type_exists(struct ovl_inode___vigil) &&
	    bpf_core_field_exists(struct ovl_inode___vigil, __upperdentry)) {
		struct ovl_inode___vigil *oi = (struct ovl_inode___vigil *)((void *)inode -
			bpf_core_field_offset(struct ovl_inode___vigil, vfs_inode));
		if (BPF_CORE_READ(oi, __upperdentry))
			flags |= VX_EXE_UPPER_LAYER;
		else
			flags |= VX_EXE_LOWER_LAYER;
	}
	/* memfd files are named "memfd:NAME" and have no link on any file system. */
	char name[6] = {};
	bpf_probe_read_kernel(name, sizeof(name), BPF_CORE_READ(exe, f_path.dentry, d_name.name));
	if (name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'f' && name[4] == 'd' && name[5] == ':' &&
	    BPF_CORE_READ(inode, __i_nlink) == 0)
		flags |= VX_EXE_FROM_MEMFD;
	/* Writable by its owner while the process runs as the owner: the cheap part of Falco's
	 * check, which also considers groups and capabilities. */
	umode_t mode = BPF_CORE_READ(inode, i_mode);
	__u32 owner = BPF_CORE_READ(inode, i_uid.val);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 euid = BPF_CORE_READ(task, cred, euid.val);
	if ((owner == euid && (mode & 0200)) || (mode & 0002) || euid == 0)
		flags |= VX_EXE_WRITABLE;
	return flags;
}

static __always_inline __u64 cap_u64(const kernel_cap_t *cap)
{
	__u64 v = 0;
	bpf_core_read(&v, sizeof(v), cap);
	return v;
}

static __always_inline void emit_exec(struct scratch *s, __u16 type, struct linux_binprm *bprm)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 off = begin_current(s, type, 0);
	struct file *exe = BPF_CORE_READ(bprm, file);
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	const struct cred *cred = BPF_CORE_READ(task, cred);
	unsigned long arg_start = BPF_CORE_READ(mm, arg_start), arg_end = BPF_CORE_READ(mm, arg_end);
	unsigned long env_start = BPF_CORE_READ(mm, env_start), env_end = BPF_CORE_READ(mm, env_end);

	put_num(s, &off, tty_of(task));
	put_num(s, &off, exe_flags(exe));
	put_num(s, &off, cap_u64(&cred->cap_permitted));
	put_num(s, &off, cap_u64(&cred->cap_effective));
	put_num(s, &off, cap_u64(&cred->cap_inheritable));
	put_num(s, &off, arg_end > arg_start ? arg_end - arg_start : 0);
	put_num(s, &off, env_end > env_start ? env_end - env_start : 0);
	put_num(s, &off, BPF_CORE_READ(exe, f_inode, i_ino));
	put_num(s, &off, 0); /* EXEC_ARGC: the loader counts */
	put_num(s, &off, pid_nr_in_ns(BPF_CORE_READ(task, signal, pids[PIDTYPE_SID])));
	put_num(s, &off, pid_nr_in_ns(BPF_CORE_READ(task, signal, pids[PIDTYPE_PGID])));

	put_file_path(s, &off, task, exe);
	put_kernel_str(s, &off, BPF_CORE_READ(bprm, filename), PATH_END + 1);
	put_dentry_path(s, &off, task, BPF_CORE_READ(task, fs, pwd.dentry), BPF_CORE_READ(task, fs, pwd.mnt));
	put_area(s, &off, arg_start, arg_end, args_area_max);
	put_area(s, &off, env_start, env_end, env_area_max);
	submit(s, off);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (ignored(id >> 32))
		return 0;
	/* The syscall's saved arguments say execve or execveat. An exec from a thread other than
	 * the leader saved them under the thread's old id. */
	__u32 key = old_pid;
	__u16 type = VE_EXECVE;
	struct pending_call *call = bpf_map_lookup_elem(&pending, &key);
	if (call) {
		if (call->type == VE_EXECVEAT)
			type = VE_EXECVEAT;
		/* Done with it: the exit of a successful exec reports nothing more. */
		bpf_map_delete_elem(&pending, &key);
	}
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	emit_exec(s, type, bprm);
	return 0;
}

/* A failed exec, reported at the syscall's exit: the old program still runs, so the filename
 * and argv are read from its memory. */
static __always_inline int exit_exec(struct sys_exit_ctx *ctx, __u16 type)
{
	struct pending_call call;
	if (!take_args(type, &call) || ctx->ret >= 0)
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 off = begin_current(s, type, ctx->ret);
	const char *filename = (const char *)(type == VE_EXECVEAT ? call.args[1] : call.args[0]);
	const char *const *argv = (const char *const *)(type == VE_EXECVEAT ? call.args[2] : call.args[1]);
	put_num(s, &off, tty_of(task));
	for (int i = EXEC_FLAGS; i < EXEC_NUMS; i++)
		put_num(s, &off, 0);
	put_empty(s, &off); /* no executable was found */
	put_user_str(s, &off, filename, PATH_END + 1);
	put_dentry_path(s, &off, task, BPF_CORE_READ(task, fs, pwd.dentry), BPF_CORE_READ(task, fs, pwd.mnt));
	/* argv as a raw NUL-separated area, like a successful exec's; the first 16 only. */
	__u32 at = off & REC_FIELD_MASK;
	__u32 o = at + 2;
	__u16 flag = 0;
	for (int i = 0; i < 16; i++) {
		const char *arg = NULL;
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) != 0 || !arg)
			break;
		long n = bpf_probe_read_user_str(&s->rec[o & REC_FIELD_MASK], 256, arg);
		if (n <= 0)
			break;
		o += n;
		if (i == 15)
			flag = VIGIL_STR_TRUNCATED;
	}
	put_len(s, at, (o - at - 2) | flag);
	off = o;
	((struct vigil_event_header *)s->rec)->nstr++;
	put_empty(s, &off); /* environment */
	submit(s, off);
	return 0;
}

ENTER(execve, VE_EXECVE, 3)
ENTER(execveat, VE_EXECVEAT, 5)

SEC("tracepoint/syscalls/sys_exit_execve")
int exit_execve(struct sys_exit_ctx *ctx)
{
	return exit_exec(ctx, VE_EXECVE);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int exit_execveat(struct sys_exit_ctx *ctx)
{
	return exit_exec(ctx, VE_EXECVEAT);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_exit, struct task_struct *p)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (ignored(id >> 32))
		return 0;
	/* Only the last thread's exit ends the process (signal->live has reached zero). */
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__u32 pid = id >> 32;
	fill_header((struct vigil_event_header *)s->rec, VE_PROCEXIT, p, pid, pid, 0);
	__u32 off = sizeof(struct vigil_event_header);
	put_num(s, &off, BPF_CORE_READ(p, exit_code));
	submit(s, off);
	return 0;
}

/* ---- files --------------------------------------------------------------------------------- */

static __always_inline int exit_open(struct sys_exit_ctx *ctx, __u16 type)
{
	struct pending_call call;
	if (!take_args(type, &call))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__u32 off = begin_current(s, type, ctx->ret);
	long dirfd = AT_FDCWD;
	const char *path;
	__u64 flags = 0, mode = 0, resolve = 0;
	switch (type) {
	case VE_OPEN:
		path = (const char *)call.args[0];
		flags = call.args[1];
		mode = call.args[2];
		break;
	case VE_CREAT:
		path = (const char *)call.args[0];
		flags = 01 | 0100 | 01000; /* O_WRONLY|O_CREAT|O_TRUNC */
		mode = call.args[1];
		break;
	case VE_OPENAT2: {
		struct vigil_open_how how = {};
		dirfd = (int)call.args[0];
		path = (const char *)call.args[1];
		bpf_probe_read_user(&how, sizeof(how), (const void *)call.args[2]);
		flags = how.flags;
		mode = how.mode;
		resolve = how.resolve;
		break;
	}
	default:
		dirfd = (int)call.args[0];
		path = (const char *)call.args[1];
		flags = call.args[2];
		mode = call.args[3];
	}
	put_num(s, &off, dirfd);
	put_num(s, &off, flags);
	put_num(s, &off, mode);
	put_num(s, &off, resolve);
	put_path_arg(s, &off, dirfd, path);
	submit(s, off);
	return 0;
}

ENTER(open, VE_OPEN, 3)
ENTER(openat, VE_OPENAT, 4)
ENTER(openat2, VE_OPENAT2, 4)
ENTER(creat, VE_CREAT, 2)

SEC("tracepoint/syscalls/sys_exit_open")
int exit_open_(struct sys_exit_ctx *ctx)
{
	return exit_open(ctx, VE_OPEN);
}
SEC("tracepoint/syscalls/sys_exit_openat")
int exit_openat(struct sys_exit_ctx *ctx)
{
	return exit_open(ctx, VE_OPENAT);
}
SEC("tracepoint/syscalls/sys_exit_openat2")
int exit_openat2(struct sys_exit_ctx *ctx)
{
	return exit_open(ctx, VE_OPENAT2);
}
SEC("tracepoint/syscalls/sys_exit_creat")
int exit_creat(struct sys_exit_ctx *ctx)
{
	return exit_open(ctx, VE_CREAT);
}

/* unlink, unlinkat, rmdir, mkdir, mkdirat, chmod, fchmodat: one path and a mode or flags. */
static __always_inline int exit_path(struct sys_exit_ctx *ctx, __u16 type, int path_arg, int dirfd_arg, int num_arg)
{
	struct pending_call call;
	if (!take_args(type, &call))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__u32 off = begin_current(s, type, ctx->ret);
	long dirfd = dirfd_arg < 0 ? AT_FDCWD : (int)call.args[dirfd_arg & 7];
	put_num(s, &off, dirfd);
	put_num(s, &off, num_arg < 0 ? 0 : call.args[num_arg & 7]);
	put_path_arg(s, &off, dirfd, (const char *)call.args[path_arg & 7]);
	submit(s, off);
	return 0;
}

#define PATH_SYSCALL(sys, nargs, type, path_arg, dirfd_arg, num_arg)                                      \
	ENTER(sys, type, nargs)                                                                   \
	SEC("tracepoint/syscalls/sys_exit_" #sys)                                                 \
	int exit_##sys(struct sys_exit_ctx *ctx)                                                  \
	{                                                                                         \
		return exit_path(ctx, type, path_arg, dirfd_arg, num_arg);                        \
	}

PATH_SYSCALL(unlink, 1, VE_UNLINK, 0, -1, -1)
PATH_SYSCALL(unlinkat, 3, VE_UNLINKAT, 1, 0, 2)
PATH_SYSCALL(rmdir, 1, VE_RMDIR, 0, -1, -1)
PATH_SYSCALL(mkdir, 2, VE_MKDIR, 0, -1, 1)
PATH_SYSCALL(mkdirat, 3, VE_MKDIRAT, 1, 0, 2)
PATH_SYSCALL(chmod, 2, VE_CHMOD, 0, -1, 1)
PATH_SYSCALL(fchmodat, 3, VE_FCHMODAT, 1, 0, 2)

/* fchmod names a file by descriptor: its path is walked from the file. */
ENTER(fchmod, VE_FCHMOD, 2)
SEC("tracepoint/syscalls/sys_exit_fchmod")
int exit_fchmod(struct sys_exit_ctx *ctx)
{
	struct pending_call call;
	if (!take_args(VE_FCHMOD, &call))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 off = begin_current(s, VE_FCHMOD, ctx->ret);
	put_num(s, &off, (int)call.args[0]);
	put_num(s, &off, call.args[1]);
	put_file_path(s, &off, task, file_of_fd(task, (int)call.args[0]));
	put_empty(s, &off);
	submit(s, off);
	return 0;
}

/* rename*, link*, symlink*: two paths. symlink's first is the link's content, not resolved. */
static __always_inline int exit_pair(struct sys_exit_ctx *ctx, __u16 type, int old_arg, int olddir_arg, int new_arg,
				     int newdir_arg, int flags_arg)
{
	struct pending_call call;
	if (!take_args(type, &call))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__u32 off = begin_current(s, type, ctx->ret);
	long olddir = olddir_arg < 0 ? AT_FDCWD : (int)call.args[olddir_arg & 7];
	long newdir = newdir_arg < 0 ? AT_FDCWD : (int)call.args[newdir_arg & 7];
	put_num(s, &off, olddir);
	put_num(s, &off, newdir);
	put_num(s, &off, flags_arg < 0 ? 0 : call.args[flags_arg & 7]);
	if (type == VE_SYMLINK || type == VE_SYMLINKAT) {
		put_user_str(s, &off, (const char *)call.args[old_arg & 7], PATH_END + 1);
		put_empty(s, &off);
	} else {
		put_path_arg(s, &off, olddir, (const char *)call.args[old_arg & 7]);
	}
	put_path_arg(s, &off, newdir, (const char *)call.args[new_arg & 7]);
	submit(s, off);
	return 0;
}

#define PAIR_SYSCALL(sys, nargs, type, old_arg, olddir_arg, new_arg, newdir_arg, flags_arg)                \
	ENTER(sys, type, nargs)                                                                   \
	SEC("tracepoint/syscalls/sys_exit_" #sys)                                                 \
	int exit_##sys(struct sys_exit_ctx *ctx)                                                  \
	{                                                                                         \
		return exit_pair(ctx, type, old_arg, olddir_arg, new_arg, newdir_arg, flags_arg); \
	}

PAIR_SYSCALL(rename, 2, VE_RENAME, 0, -1, 1, -1, -1)
PAIR_SYSCALL(renameat, 4, VE_RENAMEAT, 1, 0, 3, 2, -1)
PAIR_SYSCALL(renameat2, 5, VE_RENAMEAT2, 1, 0, 3, 2, 4)
PAIR_SYSCALL(link, 2, VE_LINK, 0, -1, 1, -1, -1)
PAIR_SYSCALL(linkat, 5, VE_LINKAT, 1, 0, 3, 2, 4)
PAIR_SYSCALL(symlink, 2, VE_SYMLINK, 0, -1, 1, -1, -1)
PAIR_SYSCALL(symlinkat, 3, VE_SYMLINKAT, 0, -1, 2, 1, -1)

/* ---- network ------------------------------------------------------------------------------- */

ENTER(connect, VE_CONNECT, 3)
SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct sys_exit_ctx *ctx)
{
	struct pending_call call;
	if (!take_args(VE_CONNECT, &call))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 off = begin_current(s, VE_CONNECT, ctx->ret);
	__u16 sotype = 0;
	struct sock *sk = sock_of_file(file_of_fd(task, (int)call.args[0]), &sotype);
	__u32 nums_at = off;
	put_sock_tuple(s, &off, (int)call.args[0], sk, sotype, 0, false);
	put_user_sockaddr(s, &off, nums_at, (const void *)call.args[1], (long)call.args[2]);
	submit(s, off);
	return 0;
}

static __always_inline int exit_accept(struct sys_exit_ctx *ctx, __u16 type)
{
	struct pending_call call;
	if (!take_args(type, &call))
		return 0;
	/* A non-blocking accept that found no connection waiting: not an event. */
	if (ctx->ret == -EAGAIN)
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 off = begin_current(s, type, ctx->ret);
	__u16 sotype = 0;
	/* The accepted socket, or on failure the listening one. */
	long fd = ctx->ret >= 0 ? ctx->ret : (int)call.args[0];
	struct sock *sk = sock_of_file(file_of_fd(task, fd), &sotype);
	put_sock_tuple(s, &off, (int)call.args[0], sk, sotype, type == VE_ACCEPT4 ? call.args[3] : 0, true);
	submit(s, off);
	return 0;
}

ENTER(accept, VE_ACCEPT, 3)
ENTER(accept4, VE_ACCEPT4, 4)
SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept_(struct sys_exit_ctx *ctx)
{
	return exit_accept(ctx, VE_ACCEPT);
}
SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct sys_exit_ctx *ctx)
{
	return exit_accept(ctx, VE_ACCEPT4);
}

ENTER(listen, VE_LISTEN, 2)
SEC("tracepoint/syscalls/sys_exit_listen")
int exit_listen(struct sys_exit_ctx *ctx)
{
	struct pending_call call;
	if (!take_args(VE_LISTEN, &call))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 off = begin_current(s, VE_LISTEN, ctx->ret);
	__u16 sotype = 0;
	struct sock *sk = sock_of_file(file_of_fd(task, (int)call.args[0]), &sotype);
	put_sock_tuple(s, &off, (int)call.args[0], sk, sotype, call.args[1], true);
	submit(s, off);
	return 0;
}

ENTER(socket, VE_SOCKET, 3)
SEC("tracepoint/syscalls/sys_exit_socket")
int exit_socket(struct sys_exit_ctx *ctx)
{
	struct pending_call call;
	if (!take_args(VE_SOCKET, &call))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__u32 off = begin_current(s, VE_SOCKET, ctx->ret);
	put_num(s, &off, call.args[0]);
	put_num(s, &off, call.args[1]);
	put_num(s, &off, call.args[2]);
	submit(s, off);
	return 0;
}

/*
 * sendto/sendmsg with an explicit destination on a datagram socket: reported only when the
 * destination differs from the socket's previous one. Connected sockets and repeats are the
 * bulk of all sends and tell a rule nothing new.
 */
static __always_inline int exit_send(struct sys_exit_ctx *ctx, __u16 type)
{
	struct pending_call call;
	if (!take_args(type, &call) || ctx->ret < 0)
		return 0;
	const void *uaddr;
	long addrlen;
	if (type == VE_SENDTO) {
		uaddr = (const void *)call.args[4];
		addrlen = (long)call.args[5];
	} else {
		struct user_msghdr msg = {};
		if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)call.args[1]) != 0)
			return 0;
		uaddr = msg.msg_name;
		addrlen = msg.msg_namelen;
	}
	if (!uaddr || addrlen <= 0)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u16 sotype = 0;
	struct sock *sk = sock_of_file(file_of_fd(task, (int)call.args[0]), &sotype);
	if (!sk || sotype == 1 /* SOCK_STREAM */)
		return 0;
	__u8 raw[24] = {};
	bpf_probe_read_user(raw, addrlen < (long)sizeof(raw) ? (addrlen & 31) : sizeof(raw), uaddr);
	__u64 digest = 0;
	for (int i = 0; i < 24; i++)
		digest = digest * 1099511628211ULL ^ raw[i];
	__u64 key = bpf_get_current_pid_tgid() & 0xffffffff00000000ULL;
	key |= (__u32)call.args[0];
	__u64 *last = bpf_map_lookup_elem(&datagram_peers, &key);
	if (last && *last == digest)
		return 0;
	bpf_map_update_elem(&datagram_peers, &key, &digest, BPF_ANY);

	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__u32 off = begin_current(s, type, ctx->ret);
	__u32 nums_at = off;
	put_sock_tuple(s, &off, (int)call.args[0], sk, sotype, ctx->ret, false);
	put_user_sockaddr(s, &off, nums_at, uaddr, addrlen);
	submit(s, off);
	return 0;
}

ENTER(sendto, VE_SENDTO, 6)
ENTER(sendmsg, VE_SENDMSG, 3)
SEC("tracepoint/syscalls/sys_exit_sendto")
int exit_sendto(struct sys_exit_ctx *ctx)
{
	return exit_send(ctx, VE_SENDTO);
}
SEC("tracepoint/syscalls/sys_exit_sendmsg")
int exit_sendmsg(struct sys_exit_ctx *ctx)
{
	return exit_send(ctx, VE_SENDMSG);
}

/* ---- descriptors --------------------------------------------------------------------------- */

static __always_inline int exit_dup(struct sys_exit_ctx *ctx, __u16 type)
{
	struct pending_call call;
	if (!take_args(type, &call))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 off = begin_current(s, type, ctx->ret);
	struct file *f = file_of_fd(task, ctx->ret >= 0 ? ctx->ret : (int)call.args[0]);
	umode_t mode = f ? BPF_CORE_READ(f, f_inode, i_mode) : 0;
	__u64 kind = FDK_UNKNOWN;
	switch (mode & S_IFMT) {
	case S_IFSOCK:
		kind = FDK_SOCKET;
		break;
	case S_IFDIR:
		kind = FDK_DIRECTORY;
		break;
	case S_IFIFO:
		kind = FDK_PIPE;
		break;
	case S_IFREG:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFLNK:
		kind = FDK_FILE;
		break;
	default:
		kind = f ? FDK_OTHER : FDK_UNKNOWN;
	}
	put_num(s, &off, (int)call.args[0]);
	put_num(s, &off, type == VE_DUP ? (__u64)ctx->ret : (__u64)(int)call.args[1]);
	put_num(s, &off, type == VE_DUP3 ? call.args[2] : 0);
	put_num(s, &off, kind);
	if (kind == FDK_SOCKET) {
		__u16 sotype = 0;
		struct sock *sk = sock_of_file(f, &sotype);
		put_sock_tuple(s, &off, ctx->ret, sk, sotype, 0, true);
		put_empty(s, &off);
	} else {
		for (int i = 0; i < SOCK_NUMS; i++)
			put_num(s, &off, 0);
		put_empty(s, &off);
		put_empty(s, &off);
		if (kind == FDK_FILE || kind == FDK_DIRECTORY)
			put_file_path(s, &off, task, f);
		else
			put_empty(s, &off);
	}
	submit(s, off);
	return 0;
}

ENTER(dup, VE_DUP, 1)
ENTER(dup2, VE_DUP2, 2)
ENTER(dup3, VE_DUP3, 3)
SEC("tracepoint/syscalls/sys_exit_dup")
int exit_dup_(struct sys_exit_ctx *ctx)
{
	return exit_dup(ctx, VE_DUP);
}
SEC("tracepoint/syscalls/sys_exit_dup2")
int exit_dup2(struct sys_exit_ctx *ctx)
{
	return exit_dup(ctx, VE_DUP2);
}
SEC("tracepoint/syscalls/sys_exit_dup3")
int exit_dup3(struct sys_exit_ctx *ctx)
{
	return exit_dup(ctx, VE_DUP3);
}

/* ---- everything else: numbers and strings as the syscall takes them ------------------------ */

/* nums: the arguments selected by `num_mask` (bit i: args[i]); strs: user strings of the
 * arguments selected by `str_mask`. */
static __always_inline int exit_misc(struct sys_exit_ctx *ctx, __u16 type, __u32 num_mask, __u32 str_mask)
{
	struct pending_call call;
	if (!take_args(type, &call))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__u32 off = begin_current(s, type, ctx->ret);
	for (int i = 0; i < 6; i++) {
		if (num_mask & (1u << i))
			put_num(s, &off, call.args[i]);
	}
	for (int i = 0; i < 6; i++) {
		if (str_mask & (1u << i))
			put_user_str(s, &off, (const char *)call.args[i], 1024);
	}
	submit(s, off);
	return 0;
}

#define MISC_SYSCALL(sys, nargs, type, num_mask, str_mask)                                               \
	ENTER(sys, type, nargs)                                                                   \
	SEC("tracepoint/syscalls/sys_exit_" #sys)                                                 \
	int exit_##sys(struct sys_exit_ctx *ctx)                                                  \
	{                                                                                         \
		return exit_misc(ctx, type, num_mask, str_mask);                                  \
	}

MISC_SYSCALL(ptrace, 4, VE_PTRACE, 0x3, 0)      /* request, pid */
MISC_SYSCALL(setuid, 1, VE_SETUID, 0x1, 0)      /* uid */
MISC_SYSCALL(setgid, 1, VE_SETGID, 0x1, 0)      /* gid */
MISC_SYSCALL(setns, 2, VE_SETNS, 0x3, 0)        /* fd, nstype */
MISC_SYSCALL(unshare, 1, VE_UNSHARE, 0x1, 0)    /* flags */
MISC_SYSCALL(bpf, 3, VE_BPF, 0x1, 0)            /* cmd */
MISC_SYSCALL(init_module, 3, VE_INIT_MODULE, 0x2, 0x4)   /* len; uargs */
MISC_SYSCALL(finit_module, 3, VE_FINIT_MODULE, 0x5, 0x2) /* fd, flags; uargs */
MISC_SYSCALL(memfd_create, 2, VE_MEMFD_CREATE, 0x2, 0x1) /* flags; name */
MISC_SYSCALL(mount, 5, VE_MOUNT, 0x8, 0x7)      /* flags; dev, dir, type */
MISC_SYSCALL(umount, 2, VE_UMOUNT2, 0x2, 0x1)   /* flags; target */
