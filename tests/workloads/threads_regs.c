/*
 * Four threads that keep known values in vector and general registers
 * across a checkpoint, plus a main thread holding a POSIX timer, a signal
 * mask with pending signals, and a 64 MiB buffer with a checksum.
 *
 * Each worker runs one inline-asm loop that never returns to C while it
 * runs: ymm8-ymm15 (and zmm16-zmm31 when the CPU and kernel have AVX-512F)
 * and r12-r15 hold per-thread values that are compared with their expected
 * copies in memory on every turn. A mismatch sets the worker's failure flag;
 * every turn bumps its progress counter; a stop flag in memory ends the loop.
 *
 * stdout gets `ready ...` once everything is set up, then, when SIGUSR1
 * arrives, one report line (`OK ...` or `FAIL ...`); the exit status is 0
 * for OK, 1 for FAIL.
 *
 * --selftest-corrupt damages a register of two workers and a byte of the
 * buffer after `ready`, so the report must say FAIL.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 4
#define BUFFER_SIZE (64UL << 20)
#define TIMER_INTERVAL_NS 20000000L
#define SETTLE_NS 200000000L

/* Corruption requests a worker's loop acts on once (selftest only). */
#define CORRUPT_GPR 1
#define CORRUPT_VECTOR 2

struct worker {
	/* Read by the asm loop: expected ymm8-15, zmm16-31, r12-15. */
	uint64_t ymm[8][4] __attribute__((aligned(32)));
	uint64_t zmm[16][8] __attribute__((aligned(64)));
	uint64_t gpr[4];
	uint64_t one[4] __attribute__((aligned(32)));
	/* Written by the asm loop. */
	volatile uint64_t progress;
	volatile uint64_t failed;
	volatile uint64_t corrupt;
	/* Plain C state. */
	pid_t tid;
	int tid_after_ok;
	pthread_t thread;
};

static struct worker workers[WORKERS] __attribute__((aligned(64)));
static volatile uint64_t stop_flag;
static volatile sig_atomic_t ticks;
static volatile sig_atomic_t report_requested;
static int use_zmm;
static pid_t start_pid;
static uint8_t *buffer;
static uint64_t buffer_sum;

static pid_t current_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void fill_expected(struct worker *w, int index)
{
	uint64_t seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(index + 1);
	for (int r = 0; r < 8; r++)
		for (int lane = 0; lane < 4; lane++)
			w->ymm[r][lane] = seed ^ ((uint64_t)(r + 8) << 40) ^ ((uint64_t)lane << 8);
	for (int r = 0; r < 16; r++)
		for (int lane = 0; lane < 8; lane++)
			w->zmm[r][lane] = ~seed ^ ((uint64_t)(r + 16) << 40) ^ ((uint64_t)lane << 16);
	for (int r = 0; r < 4; r++)
		w->gpr[r] = seed * (uint64_t)(r + 12) + 0x0123456789abcdefULL;
	for (int lane = 0; lane < 4; lane++)
		w->one[lane] = 1;
}

/*
 * Pieces of the worker loop, shared by the ymm-only and the zmm variants.
 * Operands: %[y] expected ymm8-15, %[z] expected zmm16-31, %[g] expected
 * r12-r15, %[one] a vector of ones, and the worker's flags and counter.
 */
#define LOAD_YMM(n, reg) "vmovdqa " #n "*32(%[y]), %%" reg "\n\t"
#define LOAD_ZMM(n, reg) "vmovdqa64 " #n "*64(%[z]), %%" reg "\n\t"
#define CHECK_YMM(n, reg)                                   \
	"vpcmpeqq " #n "*32(%[y]), %%" reg ", %%ymm0\n\t" \
	"vpmovmskb %%ymm0, %%eax\n\t"                      \
	"cmpl $-1, %%eax\n\t"                              \
	"jne 8f\n\t"
#define CHECK_ZMM(n, reg)                                   \
	"vpcmpeqq " #n "*64(%[z]), %%" reg ", %%k1\n\t"   \
	"kmovw %%k1, %%eax\n\t"                            \
	"cmpl $0xff, %%eax\n\t"                            \
	"jne 8f\n\t"
#define LOAD_GPRS                 \
	"movq 0(%[g]), %%r12\n\t" \
	"movq 8(%[g]), %%r13\n\t" \
	"movq 16(%[g]), %%r14\n\t" \
	"movq 24(%[g]), %%r15\n\t"
#define CHECK_GPRS                          \
	"cmpq 0(%[g]), %%r12\n\tjne 8f\n\t"  \
	"cmpq 8(%[g]), %%r13\n\tjne 8f\n\t"  \
	"cmpq 16(%[g]), %%r14\n\tjne 8f\n\t" \
	"cmpq 24(%[g]), %%r15\n\tjne 8f\n\t"
#define YMM_ALL(op)                                                           \
	op(0, "ymm8") op(1, "ymm9") op(2, "ymm10") op(3, "ymm11") op(4, "ymm12") \
	op(5, "ymm13") op(6, "ymm14") op(7, "ymm15")
#define ZMM_ALL(op)                                                             \
	op(0, "zmm16") op(1, "zmm17") op(2, "zmm18") op(3, "zmm19") op(4, "zmm20") \
	op(5, "zmm21") op(6, "zmm22") op(7, "zmm23") op(8, "zmm24") op(9, "zmm25") \
	op(10, "zmm26") op(11, "zmm27") op(12, "zmm28") op(13, "zmm29")            \
	op(14, "zmm30") op(15, "zmm31")
/* After the checks (8: is where a mismatch lands): flag, selftest damage, count, stop. */
#define LOOP_TAIL(extra_damage)                            \
	"jmp 2f\n\t"                                       \
	"8:\n\t"                                           \
	"movq $1, (%[failed])\n\t"                         \
	"2:\n\t"                                           \
	"movq (%[corrupt]), %%rax\n\t"                     \
	"testq %%rax, %%rax\n\t"                           \
	"jz 3f\n\t"                                        \
	"testq $1, %%rax\n\t"                              \
	"jz 4f\n\t"                                        \
	"xorq $1, %%r13\n\t"                               \
	"4:\n\t"                                           \
	"testq $2, %%rax\n\t"                              \
	"jz 5f\n\t"                                        \
	"vpaddq (%[one]), %%ymm11, %%ymm11\n\t" extra_damage \
	"5:\n\t"                                           \
	"movq $0, (%[corrupt])\n\t"                        \
	"3:\n\t"                                           \
	"lock incq (%[progress])\n\t"                      \
	"pause\n\t"                                        \
	"cmpq $0, (%[stop])\n\t"                           \
	"je 1b\n\t"
#define LOOP_INPUTS(w)                                                      \
	[y] "r"(w->ymm), [z] "r"(w->zmm), [g] "r"(w->gpr), [one] "r"(w->one), \
	[failed] "r"(&w->failed), [corrupt] "r"(&w->corrupt),                \
	[progress] "r"(&w->progress), [stop] "r"(&stop_flag)
#define LOOP_CLOBBERS                                                        \
	"rax", "r12", "r13", "r14", "r15", "xmm0", "xmm8", "xmm9", "xmm10", \
	"xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc", "memory"

/* Loads and checks ymm8-15 and r12-r15 until stop_flag is set. */
static void spin_ymm(struct worker *w)
{
	__asm__ volatile(YMM_ALL(LOAD_YMM) LOAD_GPRS
			 "1:\n\t" YMM_ALL(CHECK_YMM) CHECK_GPRS LOOP_TAIL("")
			 :
			 : LOOP_INPUTS(w)
			 : LOOP_CLOBBERS);
}

/* The same with zmm16-31 as well, for CPUs with AVX-512F. */
__attribute__((target("avx512f"))) static void spin_zmm(struct worker *w)
{
	__asm__ volatile(YMM_ALL(LOAD_YMM) ZMM_ALL(LOAD_ZMM) LOAD_GPRS
			 "1:\n\t" YMM_ALL(CHECK_YMM) ZMM_ALL(CHECK_ZMM) CHECK_GPRS
			 LOOP_TAIL("vpxorq %%zmm20, %%zmm20, %%zmm20\n\t")
			 :
			 : LOOP_INPUTS(w)
			 : LOOP_CLOBBERS, "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21",
			   "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29",
			   "xmm30", "xmm31", "k1");
}

/* AVX-512F in cpuid and opmask/ZMM state enabled by the kernel in XCR0. */
static int have_avx512f(void)
{
	unsigned int eax, ebx, ecx, edx;
	if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) || !(ebx & (1u << 16)))
		return 0;
	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27)))
		return 0;
	uint32_t xcr0_lo, xcr0_hi;
	__asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
	return (xcr0_lo & 0xe6) == 0xe6;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	w->tid = current_tid();
	if (use_zmm)
		spin_zmm(w);
	else
		spin_ymm(w);
	w->tid_after_ok = current_tid() == w->tid;
	return NULL;
}

static void on_tick(int sig)
{
	(void)sig;
	ticks++;
}

static void on_usr1(int sig)
{
	(void)sig;
	report_requested = 1;
}

static uint64_t checksum(const uint8_t *p, size_t len)
{
	uint64_t sum = 0xcbf29ce484222325ULL;
	const uint64_t *words = (const uint64_t *)p;
	for (size_t i = 0; i < len / 8; i++)
		sum = (sum ^ words[i]) * 0x100000001b3ULL;
	return sum;
}

static void die(const char *what)
{
	printf("FAIL setup: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

/* Sleeps for ns nanoseconds of CLOCK_MONOTONIC, through signal handlers. */
static void settle(long ns)
{
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_nsec += ns;
	end.tv_sec += end.tv_nsec / 1000000000L;
	end.tv_nsec %= 1000000000L;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL) == EINTR)
		;
}

static void setup_buffer(void)
{
	buffer = mmap(NULL, BUFFER_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	if (buffer == MAP_FAILED)
		die("mmap");
	uint64_t *words = (uint64_t *)buffer;
	for (size_t i = 0; i < BUFFER_SIZE / 8; i++)
		words[i] = (i * 0x2545f4914f6cdd1dULL) ^ 0x5a5a5a5a00000000ULL;
	buffer_sum = checksum(buffer, BUFFER_SIZE);
}

static void setup_signals(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_tick;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGRTMIN, &sa, NULL))
		die("sigaction SIGRTMIN");
	sa.sa_handler = on_usr1;
	if (sigaction(SIGUSR1, &sa, NULL))
		die("sigaction SIGUSR1");

	/* SIGUSR2 pending on the main thread, SIGPWR pending on the process. */
	sigset_t blocked;
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGUSR2);
	sigaddset(&blocked, SIGPWR);
	if (pthread_sigmask(SIG_BLOCK, &blocked, NULL))
		die("sigmask");
	raise(SIGUSR2);
	kill(getpid(), SIGPWR);
}

static void setup_timer(void)
{
	struct sigevent sev = {0};
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGRTMIN;
	timer_t timer;
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer))
		die("timer_create");
	struct itimerspec spec = {
		.it_interval = {0, TIMER_INTERVAL_NS},
		.it_value = {0, TIMER_INTERVAL_NS},
	};
	if (timer_settime(timer, 0, &spec, NULL))
		die("timer_settime");
}

/* Workers start with every signal blocked, so signals go to the main thread. */
static void start_workers(void)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (int i = 0; i < WORKERS; i++) {
		fill_expected(&workers[i], i);
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]))
			die("pthread_create");
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	for (int i = 0; i < WORKERS; i++)
		while (__atomic_load_n(&workers[i].tid, __ATOMIC_ACQUIRE) == 0 ||
		       workers[i].progress == 0)
			sched_yield();
}

/* Appends " what" to the failure list. */
static void note(char *fails, size_t size, const char *what)
{
	strncat(fails, " ", size - strlen(fails) - 1);
	strncat(fails, what, size - strlen(fails) - 1);
}

/* The task ids in /proc/self/task are exactly ours. */
static int tasks_match(void)
{
	DIR *dir = opendir("/proc/self/task");
	if (!dir)
		return 0;
	int seen = 0, ok = 1;
	struct dirent *entry;
	while ((entry = readdir(dir))) {
		if (entry->d_name[0] == '.')
			continue;
		pid_t tid = atoi(entry->d_name);
		int known = tid == start_pid;
		for (int i = 0; i < WORKERS; i++)
			known |= tid == workers[i].tid;
		ok &= known;
		seen++;
	}
	closedir(dir);
	return ok && seen == WORKERS + 1;
}

static int report(void)
{
	char fails[512] = "";
	uint64_t before[WORKERS], after[WORKERS];
	int ticks_before = ticks;
	for (int i = 0; i < WORKERS; i++)
		before[i] = workers[i].progress;
	settle(SETTLE_NS);
	for (int i = 0; i < WORKERS; i++)
		after[i] = workers[i].progress;
	int ticks_after = ticks;

	if (getpid() != start_pid || current_tid() != start_pid)
		note(fails, sizeof fails, "pid");
	if (!tasks_match())
		note(fails, sizeof fails, "tids");
	for (int i = 0; i < WORKERS; i++)
		if (after[i] <= before[i]) {
			note(fails, sizeof fails, "progress");
			break;
		}
	if (ticks_after <= ticks_before)
		note(fails, sizeof fails, "ticks");

	sigset_t mask, pending;
	pthread_sigmask(SIG_BLOCK, NULL, &mask);
	if (!sigismember(&mask, SIGUSR2) || !sigismember(&mask, SIGPWR) ||
	    sigismember(&mask, SIGUSR1) || sigismember(&mask, SIGRTMIN))
		note(fails, sizeof fails, "mask");
	sigpending(&pending);
	if (!sigismember(&pending, SIGUSR2))
		note(fails, sizeof fails, "pending-thread(SIGUSR2)");
	if (!sigismember(&pending, SIGPWR))
		note(fails, sizeof fails, "pending-process(SIGPWR)");
	if (checksum(buffer, BUFFER_SIZE) != buffer_sum)
		note(fails, sizeof fails, "checksum");

	stop_flag = 1;
	int regs_ok = 1, tids_after_ok = 1;
	for (int i = 0; i < WORKERS; i++) {
		pthread_join(workers[i].thread, NULL);
		regs_ok &= !workers[i].failed;
		tids_after_ok &= workers[i].tid_after_ok;
	}
	if (!regs_ok)
		note(fails, sizeof fails, use_zmm ? "regs(ymm/zmm/r12-r15)" : "regs(ymm/r12-r15)");
	if (!tids_after_ok)
		note(fails, sizeof fails, "gettid");

	if (fails[0]) {
		printf("FAIL%s\n", fails);
		fflush(stdout);
		return 1;
	}
	printf("OK pid=%d tids=same progress=", start_pid);
	for (int i = 0; i < WORKERS; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)(after[i] - before[i]));
	printf(" ticks=%d %s=ok mask=ok pending=ok checksum=ok\n", ticks_after - ticks_before,
	       use_zmm ? "zmm" : "ymm");
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	int selftest = argc > 1 && strcmp(argv[1], "--selftest-corrupt") == 0;
	start_pid = getpid();
	use_zmm = have_avx512f();

	setup_buffer();
	setup_signals();
	setup_timer();
	start_workers();

	printf("ready pid=%d tids=", start_pid);
	for (int i = 0; i < WORKERS; i++)
		printf("%s%d", i ? "," : "", workers[i].tid);
	printf(" vector=%s buffer=%p-%p\n", use_zmm ? "ymm8-15+zmm16-31" : "ymm8-15",
	       (void *)buffer, (void *)(buffer + BUFFER_SIZE));
	fflush(stdout);

	if (selftest) {
		workers[0].corrupt = CORRUPT_GPR;
		workers[1].corrupt = CORRUPT_VECTOR;
		buffer[BUFFER_SIZE / 3] ^= 0x40;
	}

	while (!report_requested)
		pause();
	return report();
}
