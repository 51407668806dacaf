/**
 * The event types a condition can match, so the rule set evaluates a rule only for events of
 * those types and the sensor subscribes only to what some rule needs.
 *
 * The semantics are libsinsp's event-code search (`ppm_codes.cpp`):
 * - `evt.type =`, `==`, `!=` and `in` with literal values define a set of types;
 *   `evt.type exists` matches every type;
 * - `and` intersects its children's sets and `or` unites them;
 * - `not` is pushed down to the leaves with De Morgan's laws, so a negated `evt.type` check
 *   yields the complement of its set, while a negated check of any other field stays neutral;
 * - any other check (and an unresolved macro reference) is neutral: it matches every type.
 *
 * The complement is taken within {@link EVENT_TYPE_NAMES}. Positive sets keep the names as
 * written even when the table does not list them, so a rule for a type missing from the table
 * still gets indexed under that name.
 */
import type { CheckLeft, Expr, Position, TransformerArg } from './ast.js';

/**
 * Every event type name the engine knows: the names libsinsp gives its syscall events (as
 * `sysdig -L` lists them, plus the events added since: `accept4`, `dup2`, `memfd_create`, ...),
 * its internal events (`container`, `procexit`, `switch`, `asyncevent`, ...), and every x86_64
 * syscall name, since libsinsp maps a syscall without an event of its own to its generic event
 * under that syscall's name.
 */
export const EVENT_TYPE_NAMES: ReadonlySet<string> = new Set(
  `_sysctl accept accept4 access acct add_key adjtimex afs_syscall alarm arch_prctl asyncevent bind bpf
brk capget capset chdir chmod chown chroot clock_adjtime clock_getres clock_gettime clock_nanosleep
clock_settime clone clone3 close close_range connect container copy_file_range cpu_hotplug creat
create_module delete_module drop dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit exit_group
faccessat faccessat2 fadvise64 fallocate fanotify_init fanotify_mark fchdir fchmod fchmodat fchown
fchownat fcntl fdatasync fgetxattr finit_module flistxattr flock fork fremovexattr fsconfig fsetxattr
fsmount fsopen fspick fstat fstat64 fstatfs fsync ftruncate futex futex_waitv futimesat get_kernel_syms
get_mempolicy get_robust_list get_thread_area getcpu getcwd getdents getdents64 getegid geteuid getgid
getgroups getitimer getpeername getpgid getpgrp getpid getpmsg getppid getpriority getrandom getresgid
getresuid getrlimit getrusage getsid getsockname getsockopt gettid gettimeofday getuid getxattr infra
init_module inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel io_destroy
io_getevents io_pgetevents io_setup io_submit io_uring_enter io_uring_register io_uring_setup ioctl
ioperm iopl ioprio_get ioprio_set k8s kcmp kexec_file_load kexec_load keyctl kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lgetxattr link linkat listen listxattr llistxattr
llseek lookup_dcookie lremovexattr lseek lsetxattr lstat lstat64 madvise mbind membarrier memfd_create
memfd_secret mesos migrate_pages mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2
modify_ldt mount mount_setattr move_mount move_pages mprotect mq_getsetattr mq_notify mq_open
mq_timedreceive mq_timedsend mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall
munmap name_to_handle_at nanosleep newfstatat nfsservctl notification open open_by_handle_at open_tree
openat openat2 page_fault pause perf_event_open personality pidfd_getfd pidfd_open pidfd_send_signal
pipe pipe2 pivot_root pkey_alloc pkey_free pkey_mprotect pluginevent poll ppoll prctl pread pread64
preadv preadv2 prlimit prlimit64 process_madvise process_mrelease process_vm_readv process_vm_writev
procexit procinfo pselect6 ptrace putpmsg pwrite pwrite64 pwritev pwritev2 query_module quotactl
quotactl_fd read readahead readlink readlinkat readv reboot recv recvfrom recvmmsg recvmsg
remap_file_pages removexattr rename renameat renameat2 request_key restart_syscall rmdir rseq
rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
rt_tgsigqueueinfo scapevent sched_get_priority_max sched_get_priority_min sched_getaffinity
sched_getattr sched_getparam sched_getscheduler sched_rr_get_interval sched_setaffinity sched_setattr
sched_setparam sched_setscheduler sched_yield seccomp security select semctl semget semop semtimedop
send sendfile sendmmsg sendmsg sendto set_mempolicy set_mempolicy_home_node set_robust_list
set_thread_area set_tid_address setdomainname setfsgid setfsuid setgid setgroups sethostname setitimer
setns setpgid setpriority setregid setresgid setresuid setreuid setrlimit setsid setsockopt
settimeofday setuid setxattr shmat shmctl shmdt shmget shutdown sigaltstack signaldeliver signalfd
signalfd4 socket socketpair splice stat stat64 statfs statx swapoff swapon switch symlink symlinkat
sync sync_file_range syncfs syscall sysfs sysinfo syslog tee tgkill time timer_create timer_delete
timer_getoverrun timer_gettime timer_settime timerfd_create timerfd_gettime timerfd_settime times tkill
tracer truncate tuxcall umask umount umount2 uname unlink unlinkat unshare uselib userfaultfd ustat
utime utimensat utimes vfork vhangup vmsplice vserver wait4 waitid write writev`.split(/\s+/),
);

/** The event types a condition can match: every type, or exactly the types in the set. */
export type EventTypes = 'all' | ReadonlySet<string>;

/**
 * A condition whose `evt.type` checks the search cannot reason about: `evt.type` compared with
 * another field (`val(...)`) or through a transformer. libsinsp refuses these too.
 */
export class EventTypeSearchError extends Error {
  readonly pos: Position;

  constructor(message: string, pos: Position) {
    super(message);
    this.name = 'EventTypeSearchError';
    this.pos = pos;
  }
}

/**
 * A set of names held either as the names themselves or as their complement, so negation never
 * has to enumerate the universe until the very end.
 */
interface TypeSet {
  readonly complement: boolean;
  readonly names: ReadonlySet<string>;
}

const NONE: ReadonlySet<string> = new Set();
const ALL: TypeSet = { complement: true, names: NONE };
const EMPTY: TypeSet = { complement: false, names: NONE };

function invert(s: TypeSet): TypeSet {
  return { complement: !s.complement, names: s.names };
}

function minus(a: ReadonlySet<string>, b: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const n of a) if (!b.has(n)) out.add(n);
  return out;
}

function both(a: ReadonlySet<string>, b: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const n of a) if (b.has(n)) out.add(n);
  return out;
}

function either(a: ReadonlySet<string>, b: ReadonlySet<string>): Set<string> {
  const out = new Set<string>(a);
  for (const n of b) out.add(n);
  return out;
}

function intersect(a: TypeSet, b: TypeSet): TypeSet {
  if (!a.complement && !b.complement) return { complement: false, names: both(a.names, b.names) };
  if (!a.complement) return { complement: false, names: minus(a.names, b.names) };
  if (!b.complement) return { complement: false, names: minus(b.names, a.names) };
  return { complement: true, names: either(a.names, b.names) };
}

function unite(a: TypeSet, b: TypeSet): TypeSet {
  if (!a.complement && !b.complement) return { complement: false, names: either(a.names, b.names) };
  if (!a.complement) return { complement: true, names: minus(b.names, a.names) };
  if (!b.complement) return { complement: true, names: minus(a.names, b.names) };
  return { complement: true, names: both(a.names, b.names) };
}

function isEvtType(left: CheckLeft): boolean {
  return left.kind === 'field' && left.name === 'evt.type' && left.arg === undefined;
}

/** True when `evt.type` (without argument) appears anywhere inside a transformer's arguments. */
function mentionsEvtType(arg: TransformerArg): boolean {
  switch (arg.kind) {
    case 'field':
      return arg.name === 'evt.type' && arg.arg === undefined;
    case 'transformer':
      return arg.args.some(mentionsEvtType);
    case 'arglist':
      return arg.items.some(mentionsEvtType);
    case 'value':
      return false;
  }
}

function search(expr: Expr, negated: boolean): TypeSet {
  switch (expr.kind) {
    case 'and':
    case 'or': {
      // Under a negation De Morgan swaps the connective: not (a and b) = not a or not b.
      const conjunction = (expr.kind === 'and') !== negated;
      let acc: TypeSet = conjunction ? ALL : EMPTY;
      for (const child of expr.children) {
        const s = search(child, negated);
        acc = conjunction ? intersect(acc, s) : unite(acc, s);
      }
      return acc;
    }
    case 'not':
      return search(expr.child, !negated);
    case 'macro':
      return ALL;
    case 'unary':
      if (isEvtType(expr.left) && expr.op === 'exists') return negated ? EMPTY : ALL;
      return ALL;
    case 'binary': {
      const op = expr.op;
      if (op !== '=' && op !== '==' && op !== '!=' && op !== 'in') return ALL;
      if (expr.left.kind === 'transformer') {
        if (mentionsEvtType(expr.left)) {
          throw new EventTypeSearchError(
            'evt.type checks through a transformer cannot be indexed by event type; compare evt.type directly',
            expr.left.pos,
          );
        }
        return ALL;
      }
      if (!isEvtType(expr.left)) return ALL;
      // A modifier (`in oneof (...)` is not valid, but `= anyof (...)` is) does not change which
      // names may match, only how many must: the listed names still bound the set.
      const right = expr.right;
      let names: Set<string>;
      switch (right.kind) {
        case 'value':
          names = new Set([right.value]);
          break;
        case 'list':
          names = new Set(right.items.map((item) => item.value));
          break;
        case 'listref':
          // An unexpanded list name: nothing to reason about, so stay neutral.
          return ALL;
        case 'val':
        case 'transformer':
          throw new EventTypeSearchError(
            'evt.type compared with another field cannot be indexed by event type; compare it with literal names',
            right.pos,
          );
      }
      let s: TypeSet = { complement: false, names };
      if (negated) s = invert(s);
      if (op === '!=') s = invert(s);
      return s;
    }
  }
}

/**
 * The event types `expr` can match. Run it on a tree whose macros are resolved: an unresolved
 * macro reference counts as matching every type. Returns `'all'` when no `evt.type` check
 * narrows the condition, otherwise the set of names (possibly empty: the condition can never
 * hold for any event type).
 *
 * Throws {@link EventTypeSearchError} for `evt.type` checks it cannot reason about.
 *
 * @example conditionEventTypes(parseCondition('evt.type in (open, openat) and proc.name = cat'))
 *   // Set { 'open', 'openat' }
 */
export function conditionEventTypes(expr: Expr): EventTypes {
  const s = search(expr, false);
  if (!s.complement) return s.names;
  if (s.names.size === 0) return 'all';
  return minus(EVENT_TYPE_NAMES, s.names);
}
