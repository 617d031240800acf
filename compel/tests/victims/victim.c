/* A process that checks itself after compel has been through it.
 *
 * usage: victim MODE
 *   (busy | read | nanosleep | epoll | threads | signals | zombie-leader)
 *
 * Prints one READY line with the addresses the test needs, waits in the way
 * MODE says while holding known values in general and vector registers,
 * then prints one REPORT line: "REPORT ok ..." or "REPORT FAIL reason".
 * The test ends a busy wait by writing a non-zero word at `flag` through
 * /proc/PID/mem, and a blocking read or epoll_wait by writing to stdin.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (64UL << 20)
#define WORKERS 8
#define SLEEP_SECONDS 3

static uint64_t patterns[32][8] __attribute__((aligned(64)));
static volatile uint64_t flag;
static volatile uint64_t counters[WORKERS + 1];
static volatile uint64_t early_handler_runs;
static int use_zmm;

/* Busy loops and checked syscalls, ymm and zmm flavours (sysv: rdi, rsi, rdx, rcx, r8). */
int busy_ymm(volatile uint64_t *flag, volatile uint64_t *turns, const void *patterns);
int busy_zmm(volatile uint64_t *flag, volatile uint64_t *turns, const void *patterns);
long syscall_ymm(long nr, long a1, long a2, const void *patterns, int *bad, long a3);
long syscall_zmm(long nr, long a1, long a2, const void *patterns, int *bad, long a3);

#define LOAD_GPRS                                                                  \
    "push rbx\n push rbp\n push r12\n push r13\n push r14\n push r15\n"           \
    "mov rbx, 0x1111111111111111\n mov rbp, 0x2222222222222222\n"                  \
    "mov r12, 0x3333333333333333\n mov r13, 0x4444444444444444\n"                  \
    "mov r14, 0x5555555555555555\n mov r15, 0x6666666666666666\n"
#define CHECK_GPR(reg, value) "mov rax, " value "\n cmp " reg ", rax\n jne 9f\n"
#define CHECK_GPRS                                                                 \
    CHECK_GPR("rbx", "0x1111111111111111") CHECK_GPR("rbp", "0x2222222222222222")  \
    CHECK_GPR("r12", "0x3333333333333333") CHECK_GPR("r13", "0x4444444444444444")  \
    CHECK_GPR("r14", "0x5555555555555555") CHECK_GPR("r15", "0x6666666666666666")
#define RESTORE_GPRS "pop r15\n pop r14\n pop r13\n pop r12\n pop rbp\n pop rbx\n"

#define Y(i) "vmovdqu ymm" #i ", [rdx + 64*" #i "]\n"
#define LOAD_YMM Y(0) Y(1) Y(2) Y(3) Y(4) Y(5) Y(6) Y(7) Y(8) Y(9) Y(10) Y(11) Y(12) Y(13) Y(14)
#define YC(i) "vpcmpeqq ymm15, ymm" #i ", [rdx + 64*" #i "]\n vpmovmskb eax, ymm15\n cmp eax, -1\n jne 9f\n"
#define CHECK_YMM YC(0) YC(1) YC(2) YC(3) YC(4) YC(5) YC(6) YC(7) YC(8) YC(9) YC(10) YC(11) YC(12) YC(13) YC(14)
#define Z(i) "vmovdqu64 zmm" #i ", [rdx + 64*" #i "]\n"
#define LOAD_ZMM Z(0) Z(1) Z(2) Z(3) Z(4) Z(5) Z(6) Z(7) Z(8) Z(9) Z(10) Z(11) Z(12) Z(13) Z(14) Z(15) \
    Z(16) Z(17) Z(18) Z(19) Z(20) Z(21) Z(22) Z(23) Z(24) Z(25) Z(26) Z(27) Z(28) Z(29) Z(30) Z(31)
#define ZC(i) "vpcmpeqq k1, zmm" #i ", [rdx + 64*" #i "]\n kmovw eax, k1\n cmp al, 0xff\n jne 9f\n"
#define CHECK_ZMM ZC(0) ZC(1) ZC(2) ZC(3) ZC(4) ZC(5) ZC(6) ZC(7) ZC(8) ZC(9) ZC(10) ZC(11) ZC(12) \
    ZC(13) ZC(14) ZC(15) ZC(16) ZC(17) ZC(18) ZC(19) ZC(20) ZC(21) ZC(22) ZC(23) ZC(24) ZC(25)     \
    ZC(26) ZC(27) ZC(28) ZC(29) ZC(30) ZC(31)

#define BUSY(name, LOAD, CHECK)                                                    \
    __asm__(".intel_syntax noprefix\n .text\n .globl " name "\n" name ":\n"       \
            LOAD_GPRS LOAD                                                          \
            "1:\n lock inc qword ptr [rsi]\n" CHECK_GPRS CHECK                      \
            "cmp qword ptr [rdi], 0\n je 1b\n"                                     \
            "xor eax, eax\n jmp 8f\n"                                              \
            "9:\n mov eax, 1\n"                                                    \
            "8:\n vzeroupper\n" RESTORE_GPRS "ret\n .att_syntax prefix\n");
BUSY("busy_ymm", LOAD_YMM, CHECK_YMM)
BUSY("busy_zmm", LOAD_ZMM, CHECK_ZMM)

/* nr in rdi, a1 rsi, a2 rdx -> moved; patterns in rcx; bad in r8; a3 in r9. */
#define CHECKED_SYSCALL(name, LOAD, CHECK)                                         \
    __asm__(".intel_syntax noprefix\n .text\n .globl " name "\n" name ":\n"       \
            LOAD_GPRS "push r8\n push rcx\n"                                       \
            "mov r10, rdx\n mov rdx, rcx\n" LOAD                                    \
            "mov rax, rdi\n mov rdi, rsi\n mov rsi, r10\n mov rdx, r9\n"           \
            "mov r10, -1\n xor r8, r8\n xor r9, r9\n syscall\n"                  \
            "mov rdi, rax\n pop rdx\n" CHECK_GPRS CHECK                             \
            "pop r8\n mov dword ptr [r8], 0\n jmp 8f\n"                           \
            "9:\n pop r8\n mov dword ptr [r8], 1\n"                               \
            "8:\n mov rax, rdi\n vzeroupper\n" RESTORE_GPRS "ret\n .att_syntax prefix\n");
CHECKED_SYSCALL("syscall_ymm", LOAD_YMM, CHECK_YMM)
CHECKED_SYSCALL("syscall_zmm", LOAD_ZMM, CHECK_ZMM)

static int busy(volatile uint64_t *turns)
{
    return use_zmm ? busy_zmm(&flag, turns, patterns) : busy_ymm(&flag, turns, patterns);
}

static long checked_syscall(long nr, long a1, long a2, long a3, int *bad)
{
    return use_zmm ? syscall_zmm(nr, a1, a2, patterns, bad, a3)
                   : syscall_ymm(nr, a1, a2, patterns, bad, a3);
}

static uint64_t checksum(const uint64_t *words, size_t count)
{
    uint64_t sum = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < count; i++)
        sum = (sum ^ words[i]) * 0x100000001b3ULL;
    return sum;
}

static void fill(uint64_t *words, size_t count)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < count; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        words[i] = x;
    }
}

static void on_winch(int sig)
{
    (void)sig;
    early_handler_runs++;
}

static int rt_values[8], rt_count, usr1_count, usr2_count;

static void on_counted(int sig, siginfo_t *info, void *ctx)
{
    (void)ctx;
    if (sig == SIGUSR1)
        usr1_count++;
    else if (sig == SIGUSR2)
        usr2_count++;
    else if (rt_count < 8)
        rt_values[rt_count++] = info->si_value.sival_int;
}

static void *worker(void *arg)
{
    long index = (long)arg;
    return (void *)(long)busy(&counters[index + 1]);
}

static char report[512];
static size_t report_len;

static void note(const char *what, int good)
{
    if (!good)
        report_len += snprintf(report + report_len, sizeof report - report_len, " FAIL:%s", what);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "busy";
    __builtin_cpu_init();
    use_zmm = __builtin_cpu_supports("avx512f");
    for (int i = 0; i < 32; i++)
        for (int j = 0; j < 8; j++)
            patterns[i][j] = 0x0102030405060708ULL * (uint64_t)(i + 1) + (uint64_t)j;

    uint64_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return 2;
    fill(mem, MEM_SIZE / 8);
    uint64_t sum = checksum(mem, MEM_SIZE / 8);

    static char altstack[65536];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
    sigaltstack(&ss, NULL);

    int memfd = memfd_create("victim-secret", 0);
    if (memfd < 0 || write(memfd, "secret-from-victim\n", 19) != 19)
        return 2;

    /* Signals: SIGUSR1, SIGUSR2, SIGRTMIN+1 blocked and pending; SIGWINCH handled. */
    sigset_t blocked, mask_before, pending_before;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR1);
    sigaddset(&blocked, SIGUSR2);
    sigaddset(&blocked, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &blocked, NULL);
    struct sigaction counted = { .sa_sigaction = on_counted, .sa_flags = SA_SIGINFO | SA_RESTART };
    sigaction(SIGUSR1, &counted, NULL);
    sigaction(SIGUSR2, &counted, NULL);
    sigaction(SIGRTMIN + 1, &counted, NULL);
    struct sigaction winch = { .sa_handler = on_winch, .sa_flags = SA_RESTART };
    sigaction(SIGWINCH, &winch, NULL);
    if (strcmp(mode, "signals") == 0) {
        kill(getpid(), SIGUSR1);
        syscall(SYS_tgkill, getpid(), gettid(), SIGUSR2);
        for (int v = 1; v <= 3; v++)
            sigqueue(getpid(), SIGRTMIN + 1, (union sigval){ .sival_int = v });
    }
    sigprocmask(SIG_BLOCK, NULL, &mask_before);
    sigpending(&pending_before);

    printf("READY mem=%lx len=%lx flag=%lx counters=%lx early=%lx memfd=%d altstack=%lx "
           "altsize=%lx vec=%s\n",
           (unsigned long)mem, MEM_SIZE, (unsigned long)&flag, (unsigned long)counters,
           (unsigned long)&early_handler_runs, memfd, (unsigned long)altstack,
           (unsigned long)sizeof altstack, use_zmm ? "zmm" : "ymm");
    fflush(stdout);

    int bad = 0;
    long result = 0;
    char buf[64] = { 0 };
    struct timespec before, after;
    clock_gettime(CLOCK_MONOTONIC, &before);
    if (strcmp(mode, "read") == 0) {
        result = checked_syscall(SYS_read, 0, (long)buf, sizeof buf - 1, &bad);
        note("read-result", result == 5 && memcmp(buf, "wake\n", 5) == 0);
    } else if (strcmp(mode, "nanosleep") == 0) {
        struct timespec ts = { .tv_sec = SLEEP_SECONDS }, rem;
        result = checked_syscall(SYS_nanosleep, (long)&ts, (long)&rem, 0, &bad);
        clock_gettime(CLOCK_MONOTONIC, &after);
        note("nanosleep-result", result == 0);
        note("nanosleep-time", after.tv_sec - before.tv_sec >= SLEEP_SECONDS - 1 &&
             (after.tv_sec - before.tv_sec) * 1000000000L + (after.tv_nsec - before.tv_nsec)
                 >= SLEEP_SECONDS * 1000000000L);
    } else if (strcmp(mode, "epoll") == 0) {
        int ep = epoll_create1(0);
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 77 }, got[4];
        epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
        result = checked_syscall(SYS_epoll_wait, ep, (long)got, 4, &bad);
        note("epoll-result", result == 1 && got[0].data.u64 == 77);
    } else if (strcmp(mode, "zombie-leader") == 0) {
        pthread_t thread;
        pthread_create(&thread, NULL, worker, (void *)0);
        pthread_exit(NULL);
    } else if (strcmp(mode, "threads") == 0) {
        pthread_t threads[WORKERS];
        for (long i = 0; i < WORKERS; i++)
            pthread_create(&threads[i], NULL, worker, (void *)i);
        for (int i = 0; i < WORKERS; i++) {
            void *ret;
            pthread_join(threads[i], &ret);
            note("worker-registers", ret == NULL);
        }
    } else {
        bad = busy(&counters[0]);
    }
    if (result < 0)
        note(strerror((int)-result), 0);
    note("registers", bad == 0);
    note("checksum", checksum(mem, MEM_SIZE / 8) == sum);

    sigset_t mask_after, pending_after;
    sigprocmask(SIG_BLOCK, NULL, &mask_after);
    sigpending(&pending_after);
    note("sigmask", memcmp(&mask_before, &mask_after, 8) == 0);
    note("pending", memcmp(&pending_before, &pending_after, 8) == 0);
    stack_t now;
    sigaltstack(NULL, &now);
    note("altstack", now.ss_sp == altstack && now.ss_size == sizeof altstack && now.ss_flags == 0);
    if (strcmp(mode, "signals") == 0) {
        note("early-delivery", usr1_count == 0 && usr2_count == 0 && rt_count == 0);
        sigprocmask(SIG_UNBLOCK, &blocked, NULL);
        note("usr1", usr1_count == 1);
        note("usr2", usr2_count == 1);
        note("rt", rt_count == 3 && rt_values[0] == 1 && rt_values[1] == 2 && rt_values[2] == 3);
    }
    printf("REPORT %s vec=%s winch=%lu turns=%lu%s\n", report_len ? "FAIL" : "ok",
           use_zmm ? "zmm" : "ymm", (unsigned long)early_handler_runs,
           (unsigned long)counters[0], report);
    fflush(stdout);
    return report_len ? 1 : 0;
}
