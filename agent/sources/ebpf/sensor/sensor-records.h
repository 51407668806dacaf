/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The record format shared by the BPF programs (vigil-sensor.bpf.c), the loader
 * (vigil-sensor.c) and the agent's decoder (../wire-format.ts, which must agree with every
 * number here; a unit test reads this file and checks that it does).
 *
 * On the pipe each record is a 4-byte little-endian length followed by the record. A record
 * starts with a u16 record type. Event records carry a fixed header, then `nnum` 64-bit numbers,
 * then `nstr` strings; a string is a u16 (length | VIGIL_STR_TRUNCATED) followed by exactly
 * that many bytes, never NUL- or newline-terminated, so any byte may appear in it.
 * Everything is little-endian (the sensor only runs on little-endian machines).
 */
#ifndef VIGIL_SENSOR_RECORDS_H
#define VIGIL_SENSOR_RECORDS_H

/* Bump when a layout below changes; the agent refuses a stream of another version. */
#define VIGIL_FORMAT_VERSION 1

#define VIGIL_COMM_LEN 16

/* A string's u16 prefix: bit 15 says the bytes were cut at a limit. */
#define VIGIL_STR_TRUNCATED 0x8000
#define VIGIL_STR_LEN_MASK 0x7fff

/* Record types: the first u16 of every record. */
enum vigil_record_type {
	VR_HEADER = 1, /* first record of a stream: struct vigil_header_record + strings */
	VR_STATS = 2,  /* periodic counters: struct vigil_stats_record + entries */

	VE_CLONE = 10, /* a new process (sched_process_fork); nums[0] says which syscall */
	VE_EXECVE = 11,
	VE_EXECVEAT = 12,
	VE_PROCEXIT = 13,

	VE_OPEN = 20,
	VE_OPENAT = 21,
	VE_OPENAT2 = 22,
	VE_CREAT = 23,

	VE_CONNECT = 30,
	VE_ACCEPT = 31,
	VE_ACCEPT4 = 32,
	VE_LISTEN = 33,
	VE_SOCKET = 34,
	VE_SENDTO = 35,
	VE_SENDMSG = 36,

	VE_DUP = 40,
	VE_DUP2 = 41,
	VE_DUP3 = 42,

	VE_UNLINK = 50,
	VE_UNLINKAT = 51,
	VE_RMDIR = 52,
	VE_MKDIR = 53,
	VE_MKDIRAT = 54,
	VE_CHMOD = 55,
	VE_FCHMOD = 56,
	VE_FCHMODAT = 57,

	VE_RENAME = 60,
	VE_RENAMEAT = 61,
	VE_RENAMEAT2 = 62,
	VE_LINK = 63,
	VE_LINKAT = 64,
	VE_SYMLINK = 65,
	VE_SYMLINKAT = 66,

	VE_PTRACE = 70,
	VE_SETUID = 71,
	VE_SETGID = 72,
	VE_SETNS = 73,
	VE_UNSHARE = 74,
	VE_BPF = 75,
	VE_INIT_MODULE = 76,
	VE_FINIT_MODULE = 77,
	VE_MEMFD_CREATE = 78,
	VE_MOUNT = 79,
	VE_UMOUNT2 = 80,

	VR_TYPE_MAX = 96, /* every type is below this: the size of the counter array */
};

/* Event header flags. */
#define VF_ARGV_TRUNCATED (1 << 0) /* exec: argv was cut at the count or length limit */
#define VF_ENV_TRUNCATED (1 << 1)  /* exec: the environment was cut at its limit */

/* Every event record starts with this (80 bytes). */
struct vigil_event_header {
	__u16 type;  /* enum vigil_record_type */
	__u16 flags; /* VF_* */
	__u8 nnum;   /* 64-bit numbers after the header */
	__u8 reserved0;
	__u16 nstr;    /* strings after the numbers */
	__u64 ts;      /* CLOCK_BOOTTIME, ns; the stream header says how to make it wall time */
	__u64 cgroup;  /* cgroup id (the cgroup directory's inode) in the hierarchy the header names */
	__s64 res;     /* the syscall's result (0 for process events) */
	__u32 pid;     /* thread group id, as the host sees it */
	__u32 tid;     /* thread id */
	__u32 ppid;    /* the real parent's thread group id */
	__u32 uid;     /* effective uid */
	__u32 gid;     /* effective gid */
	__u32 loginuid; /* audit login uid; 0xffffffff when unset */
	__u32 vpid;    /* thread group id in the process's own pid namespace */
	__u32 reserved1;
	char comm[VIGIL_COMM_LEN];
};

/*
 * The numbers (nums[i]) and strings (strs[i]) of each event type. Socket events share a tuple:
 * SOCK_FD, SOCK_FAMILY, SOCK_PROTO (IPPROTO_*), SOCK_LPORT, SOCK_RPORT, SOCK_TYPE (SOCK_STREAM
 * ...) in nums[0..5] and the local and remote address bytes (4 or 16; a Unix socket's path) in
 * strs[0..1]. Paths come in pairs: the path as the process passed it, then the directory it is
 * relative to (the cwd or the directory fd's path) when it is relative, else empty.
 */
enum vigil_clone_nums { CLONE_SYSCALL, CLONE_CALLER_TID, CLONE_TTY, CLONE_NUMS };
/* CLONE_SYSCALL values. */
enum vigil_clone_syscall { CLONE_BY_CLONE, CLONE_BY_FORK, CLONE_BY_VFORK, CLONE_BY_CLONE3 };

enum vigil_exec_nums {
	EXEC_TTY,
	EXEC_FLAGS, /* VX_* below */
	EXEC_CAP_PERMITTED,
	EXEC_CAP_EFFECTIVE,
	EXEC_CAP_INHERITABLE,
	EXEC_ARGS_BYTES, /* size of the process's whole argument area */
	EXEC_ENV_BYTES,  /* size of its whole environment area */
	EXEC_EXE_INO,
	EXEC_ARGC,       /* argv strings in this record (set by the loader) */
	EXEC_SID,        /* session id, in the process's pid namespace */
	EXEC_PGID,       /* process group id, in the process's pid namespace */
	EXEC_NUMS,
};
/*
 * Exec strings: EXEC_EXEPATH, EXEC_FILENAME (as passed to execve), EXEC_CWD, then EXEC_ARGC
 * argv strings, then the environment's strings. (From the BPF side slot 3 is the raw argument
 * area and slot 4 the raw environment area; the loader splits them.)
 */
enum vigil_exec_strs { EXEC_EXEPATH, EXEC_FILENAME, EXEC_CWD, EXEC_FIXED };
#define VX_EXE_WRITABLE (1 << 0)
#define VX_EXE_UPPER_LAYER (1 << 1)
#define VX_EXE_FROM_MEMFD (1 << 2)
#define VX_EXE_LOWER_LAYER (1 << 3)

enum vigil_exit_nums { EXIT_CODE, EXIT_NUMS };

enum vigil_open_nums { OPEN_DIRFD, OPEN_FLAGS, OPEN_MODE, OPEN_RESOLVE, OPEN_NUMS };
/* strs: path, base */

enum vigil_sock_nums { SOCK_FD, SOCK_FAMILY, SOCK_PROTO, SOCK_LPORT, SOCK_RPORT, SOCK_TYPE, SOCK_EXTRA, SOCK_NUMS };
/* SOCK_EXTRA: accept4 flags, listen backlog, sendto/sendmsg size. strs: laddr, raddr */

enum vigil_socket_nums { SOCKET_DOMAIN, SOCKET_TYPE, SOCKET_PROTOCOL, SOCKET_NUMS };

/* dup: the old and new fd, flags and what the new fd refers to, then (for a socket) a socket
 * tuple at DUP_TUPLE (nums) with strs laddr, raddr; strs[2] is a file's or directory's path. */
enum vigil_dup_nums { DUP_OLDFD, DUP_NEWFD, DUP_FLAGS, DUP_FD_KIND, DUP_TUPLE, DUP_NUMS = DUP_TUPLE + SOCK_NUMS };
/* What a file descriptor refers to (DUP_FD_KIND). */
enum vigil_fd_kind { FDK_UNKNOWN, FDK_FILE, FDK_DIRECTORY, FDK_SOCKET, FDK_PIPE, FDK_OTHER };

/* unlink, unlinkat, rmdir, mkdir, mkdirat, chmod, fchmod, fchmodat: strs path, base. */
enum vigil_path_nums { PATH_DIRFD, PATH_ARG, PATH_NUMS }; /* PATH_ARG: mode or flags */

/* rename*, link*, symlink*: strs oldpath, oldbase, newpath, newbase. */
enum vigil_pair_nums { PAIR_OLDDIRFD, PAIR_NEWDIRFD, PAIR_FLAGS, PAIR_NUMS };

/* The rest: up to four numbers, up to three strings, as each syscall takes them. */
enum vigil_misc_nums { MISC_A, MISC_B, MISC_C, MISC_D, MISC_NUMS };

/* The first record of a stream (then strings: the cgroup hierarchy, the enabled event names). */
struct vigil_header_record {
	__u16 type; /* VR_HEADER */
	__u16 version;
	__u32 sensor_pid;
	__u64 boot_to_epoch_ns; /* add to a CLOCK_BOOTTIME ns timestamp to get ns since the epoch */
	__u32 ring_bytes;
	__u32 argv_max;
	__u32 arg_len;
	__u32 env_bytes;
};

/* Per-type counters: cumulative since the sensor started. */
struct vigil_stats_entry {
	__u16 type;
	__u16 reserved0;
	__u32 reserved1;
	__u64 sent; /* records the BPF programs put in the ring */
	__u64 lost; /* records they could not: the ring was full */
};

struct vigil_stats_record {
	__u16 type; /* VR_STATS */
	__u16 count;
	__u32 reserved;
	__u64 ts; /* CLOCK_BOOTTIME, ns */
	/* then `count` struct vigil_stats_entry */
};

#endif
