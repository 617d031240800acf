/*
 * A process tree that checks itself: every process knows what it must find
 * after a dump and restore, and the root gathers the answers.
 *
 *   root R (started as a session leader by the test)
 *   +- Z   exits at once with status 42; R leaves it a zombie until the report
 *   +- S   calls setsid(): a session and group of its own; writes PIPE_BYTES
 *   |      into the "flight" pipe, which nobody reads before the report
 *   +- G   calls setpgid(0, 0): leads a new group in R's session
 *      +- GG  in G's group; holds the read end of the flight pipe
 *
 * Shared by all, set up before the forks: a MAP_SHARED|MAP_ANONYMOUS page,
 * a 64 MiB private buffer filled with a pattern (only read after the fork,
 * so it stays copy-on-write shared), and one open file description of the
 * file DIR/shared-offset. S, G and GG write "ready" messages, and later
 * their answers, into the "results" pipe whose read end only R holds.
 *
 * Usage: tree [--selftest-break] DIR   (DIR for the file). R prints
 * `ready pid=R z=Z s=S g=G gg=GG` once the tree is built and Z is a zombie.
 * On SIGUSR1, R asks S, G and GG in turn (SIGUSR1 to each, a token in the
 * shared page); each checks its pid, ppid, pgid, sid and the big buffer,
 * answers the token through the shared page, appends its record to the
 * shared file, and S then writes a trailer into the flight pipe, which GG
 * reads in full and checks byte by byte. R then checks itself, reaps Z
 * (pid and status), checks the file's offset and contents (one offset for
 * all: every record follows the last), sends SIGUSR2 to end the tree, and
 * prints one line, `OK pid=R ...` or `FAIL pid=R <what>...`, exiting 0 or 1.
 *
 * --selftest-break breaks one thing of each kind the checks cover, so the
 * report must fail and name each: R reaps Z early and steals bytes from the
 * flight pipe, S opens its own description of the file and writes into the
 * big buffer, G replaces its shared page with a private one, GG leaves G's
 * group.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIG_BYTES (64UL << 20)
#define BIG_SEED 0x9e3779b97f4a7c15ULL
#define PIPE_BYTES 50000
#define TRAILER "END!"
#define TRAILER_LEN 4
#define ZOMBIE_STATUS 42
#define MESSAGE_LEN 128
#define RECORD_LEN 12
#define HEADER "tree: one offset for every process\n"
/* A guard against a child that never answers, not a measure of speed. */
#define ANSWER_TIMEOUT_MS 60000

/* The processes that answer, in the order R asks them. */
enum member { M_S, M_G, M_GG, MEMBERS };
static const char *const member_name[MEMBERS] = {"S", "G", "GG"};

struct shared_page {
	volatile pid_t hello[MEMBERS];
	volatile long token;
	volatile long answer[MEMBERS];
};

/* Who a process is, and where it must find itself after the restore. */
struct identity {
	pid_t pid, ppid, pgid, sid;
};

static struct shared_page *shared;
static const uint64_t *big;
static int data_fd;
static int flight[2];
static int results[2];
static sigset_t waited;
static char failures[1024];
static int selftest_break;

static void fail(const char *what)
{
	strncat(failures, " ", sizeof(failures) - strlen(failures) - 1);
	strncat(failures, what, sizeof(failures) - strlen(failures) - 1);
}

static uint64_t big_word(size_t index)
{
	return (index * BIG_SEED) ^ (index >> 7);
}

static unsigned char flight_byte(size_t index)
{
	return (unsigned char)(index * 131 + (index >> 8));
}

/* The next SIGUSR1 or SIGUSR2 (both blocked everywhere in the tree). */
static int next_signal(void)
{
	for (;;) {
		int sig = sigwaitinfo(&waited, NULL);
		if (sig > 0)
			return sig;
		if (errno != EINTR)
			return -1;
	}
}

static int write_all(int fd, const void *buffer, size_t len)
{
	const char *at = buffer;
	while (len > 0) {
		ssize_t n = write(fd, at, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		at += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(int fd, void *buffer, size_t len)
{
	char *at = buffer;
	while (len > 0) {
		ssize_t n = read(fd, at, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		at += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One fixed-size message into the results pipe: a single atomic write. */
static void send_message(const char *text)
{
	char message[MESSAGE_LEN] = {0};
	snprintf(message, sizeof(message), "%s", text);
	if (write_all(results[1], message, sizeof(message)))
		_exit(3);
}

static void check_identity(const struct identity *me)
{
	char what[128];
	if (getpid() != me->pid) {
		snprintf(what, sizeof(what), "pid=%d(want-%d)", getpid(), me->pid);
		fail(what);
	}
	if (me->ppid && getppid() != me->ppid) {
		snprintf(what, sizeof(what), "ppid=%d(want-%d)", getppid(), me->ppid);
		fail(what);
	}
	if (getpgid(0) != me->pgid) {
		snprintf(what, sizeof(what), "pgid=%d(want-%d)", getpgid(0), me->pgid);
		fail(what);
	}
	if (getsid(0) != me->sid) {
		snprintf(what, sizeof(what), "sid=%d(want-%d)", getsid(0), me->sid);
		fail(what);
	}
}

static void check_big(void)
{
	for (size_t i = 0; i < BIG_BYTES / 8; i++) {
		if (big[i] != big_word(i)) {
			char what[64];
			snprintf(what, sizeof(what), "big-buffer-word-%zu", i);
			fail(what);
			return;
		}
	}
}

/* Appends this process's record through the shared description. */
static void append_record(const char *name, pid_t pid)
{
	char record[RECORD_LEN + 1];
	snprintf(record, sizeof(record), "%-3s %7d\n", name, pid);
	off_t before = lseek(data_fd, 0, SEEK_CUR);
	if (write_all(data_fd, record, RECORD_LEN))
		fail("file-write");
	else if (lseek(data_fd, 0, SEEK_CUR) != before + RECORD_LEN)
		fail("file-offset-moved-oddly");
}

/*
 * GG: everything S wrote, in order and no more. S has written its trailer
 * before GG is asked, so all of it is waiting: read until the pipe is empty.
 */
static void check_flight(void)
{
	static unsigned char got[PIPE_BYTES + TRAILER_LEN + 1];
	size_t len = 0;
	ssize_t n;
	fcntl(flight[0], F_SETFL, O_NONBLOCK);
	while (len < sizeof(got) &&
	       ((n = read(flight[0], got + len, sizeof(got) - len)) > 0 || errno == EINTR))
		len += n > 0 ? (size_t)n : 0;
	if (len != PIPE_BYTES + TRAILER_LEN) {
		char what[64];
		snprintf(what, sizeof(what), "flight-pipe-bytes=%zu", len);
		fail(what);
		return;
	}
	for (size_t i = 0; i < PIPE_BYTES; i++) {
		if (got[i] != flight_byte(i)) {
			char what[64];
			snprintf(what, sizeof(what), "flight-pipe-byte-%zu", i);
			fail(what);
			return;
		}
	}
	if (memcmp(got + PIPE_BYTES, TRAILER, TRAILER_LEN) != 0)
		fail("flight-pipe-trailer");
}

static void answer(enum member index, const struct identity *me)
{
	failures[0] = '\0';
	check_identity(me);
	check_big();
	long token = shared->token;
	shared->answer[index] = token * 3 + 1;
	append_record(member_name[index], me->pid);
	if (index == M_S && write_all(flight[1], TRAILER, TRAILER_LEN))
		fail("flight-pipe-trailer-write");
	if (index == M_GG)
		check_flight();
	char text[MESSAGE_LEN];
	snprintf(text, sizeof(text), "%s %s token=%ld%.80s", member_name[index],
		 failures[0] ? "FAIL" : "ok", token, failures);
	send_message(text);
}

/* A child's life after setup: say ready, answer each SIGUSR1, end on SIGUSR2. */
static void serve(enum member index, const struct identity *me)
{
	shared->hello[index] = me->pid;
	char text[MESSAGE_LEN];
	snprintf(text, sizeof(text), "ready %d %d", index, me->pid);
	send_message(text);
	for (;;) {
		int sig = next_signal();
		if (sig != SIGUSR1)
			return;
		answer(index, me);
	}
}

static void run_s(pid_t root)
{
	close(flight[0]);
	close(results[0]);
	if (setsid() < 0)
		_exit(4);
	struct identity me = {getpid(), root, getpid(), getpid()};
	unsigned char bytes[PIPE_BYTES];
	for (size_t i = 0; i < PIPE_BYTES; i++)
		bytes[i] = flight_byte(i);
	if (write_all(flight[1], bytes, sizeof(bytes)))
		_exit(5);
	if (selftest_break) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", data_fd);
		int own = open(path, O_RDWR);
		if (own < 0 || dup2(own, data_fd) < 0)
			_exit(7);
		close(own);
		((uint64_t *)big)[0] ^= 1;
	}
	serve(M_S, &me);
	_exit(0);
}

static void run_gg(pid_t g, pid_t sid)
{
	struct identity me = {getpid(), g, g, sid};
	if (selftest_break && setpgid(0, 0))
		_exit(7);
	serve(M_GG, &me);
	_exit(0);
}

static void run_g(pid_t root)
{
	close(flight[1]);
	close(results[0]);
	if (setpgid(0, 0))
		_exit(4);
	struct identity me = {getpid(), root, getpid(), root};
	pid_t gg = fork();
	if (gg < 0)
		_exit(6);
	if (gg == 0)
		run_gg(me.pid, root);
	close(flight[0]);
	if (selftest_break && mmap(shared, sizeof(*shared), PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != shared)
		_exit(7);
	serve(M_G, &me);
	kill(gg, SIGUSR2);
	int status;
	while (waitpid(gg, &status, 0) < 0 && errno == EINTR)
		;
	_exit(0);
}

/* Reads one message from the results pipe, waiting at most ANSWER_TIMEOUT_MS. */
static int receive_message(char *message)
{
	struct pollfd ready = {.fd = results[0], .events = POLLIN};
	int n;
	while ((n = poll(&ready, 1, ANSWER_TIMEOUT_MS)) < 0 && errno == EINTR)
		;
	if (n != 1)
		return -1;
	if (read_all(results[0], message, MESSAGE_LEN))
		return -1;
	message[MESSAGE_LEN - 1] = '\0';
	return 0;
}

/* Asks each child in turn; their answers go into `failures`. */
static void ask_members(const pid_t *pids)
{
	for (int index = 0; index < MEMBERS; index++) {
		long token = 1000 + 7 * index;
		shared->token = token;
		char message[MESSAGE_LEN], want[MESSAGE_LEN], what[MESSAGE_LEN + 32];
		if (kill(pids[index], SIGUSR1) || receive_message(message)) {
			snprintf(what, sizeof(what), "%s-no-answer", member_name[index]);
			fail(what);
			continue;
		}
		snprintf(want, sizeof(want), "%s ok token=%ld", member_name[index], token);
		if (strcmp(message, want) != 0) {
			snprintf(what, sizeof(what), "[%s]", message);
			fail(what);
		}
		if (shared->answer[index] != token * 3 + 1) {
			snprintf(what, sizeof(what), "%s-shared-answer=%ld", member_name[index],
				 shared->answer[index]);
			fail(what);
		}
		if (shared->hello[index] != pids[index]) {
			snprintf(what, sizeof(what), "%s-shared-hello=%d", member_name[index],
				 shared->hello[index]);
			fail(what);
		}
	}
}

/* /proc/Z/stat says zombie, child of R; then R reaps it: its pid, status 42. */
static void check_zombie(pid_t zombie, pid_t root)
{
	char path[64], stat[512] = {0};
	snprintf(path, sizeof(path), "/proc/%d/stat", zombie);
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, stat, sizeof(stat) - 1);
	if (fd >= 0)
		close(fd);
	char state = 0;
	int ppid = 0;
	const char *after_comm = n > 0 ? strrchr(stat, ')') : NULL;
	if (!after_comm || sscanf(after_comm, ") %c %d", &state, &ppid) != 2 || state != 'Z' ||
	    ppid != root)
		fail("zombie-not-a-zombie-child");
	int status;
	pid_t reaped;
	while ((reaped = waitpid(zombie, &status, WNOHANG)) < 0 && errno == EINTR)
		;
	if (reaped != zombie)
		fail("zombie-not-reaped");
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != ZOMBIE_STATUS)
		fail("zombie-status");
}

/* The file holds the header and every record back to back: one offset. */
static void check_file(const pid_t *pids, pid_t root)
{
	char want[sizeof(HEADER) + (MEMBERS + 1) * RECORD_LEN + 1] = HEADER;
	for (int index = 0; index <= MEMBERS; index++) {
		char record[RECORD_LEN + 1];
		snprintf(record, sizeof(record), "%-3s %7d\n",
			 index < MEMBERS ? member_name[index] : "R",
			 index < MEMBERS ? pids[index] : root);
		strcat(want, record);
	}
	size_t len = strlen(want);
	off_t offset = lseek(data_fd, 0, SEEK_CUR);
	char got[sizeof(want)] = {0};
	if (offset != (off_t)len) {
		char what[64];
		snprintf(what, sizeof(what), "file-offset=%ld(want-%zu)", (long)offset, len);
		fail(what);
	}
	if (pread(data_fd, got, len, 0) != (ssize_t)len || memcmp(got, want, len) != 0)
		fail("file-contents");
}

static void end_children(const pid_t *pids)
{
	kill(pids[M_S], SIGUSR2);
	kill(pids[M_G], SIGUSR2);
	for (int index = M_S; index <= M_G; index++) {
		int status;
		while (waitpid(pids[index], &status, 0) < 0 && errno == EINTR)
			;
	}
}

static int report(const struct identity *me, pid_t zombie, const pid_t *pids)
{
	failures[0] = '\0';
	ask_members(pids);
	check_identity(me);
	check_big();
	append_record("R", me->pid);
	check_zombie(zombie, me->pid);
	check_file(pids, me->pid);
	end_children(pids);
	if (failures[0]) {
		printf("FAIL pid=%d%s\n", me->pid, failures);
		return 1;
	}
	printf("OK pid=%d processes=%d zombie=%d pipe=%d shared=ok offset=ok cow-buffer=%luMiB\n",
	       me->pid, MEMBERS + 2, ZOMBIE_STATUS, PIPE_BYTES, BIG_BYTES >> 20);
	return 0;
}

static int set_up(const char *dir)
{
	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		      -1, 0);
	uint64_t *buffer = mmap(NULL, BIG_BYTES, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED || buffer == MAP_FAILED)
		return -1;
	for (size_t i = 0; i < BIG_BYTES / 8; i++)
		buffer[i] = big_word(i);
	big = buffer;
	char path[4096];
	snprintf(path, sizeof(path), "%s/shared-offset", dir);
	data_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (data_fd < 0 || write_all(data_fd, HEADER, strlen(HEADER)))
		return -1;
	if (pipe(flight) || pipe(results))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	selftest_break = argc == 3 && strcmp(argv[1], "--selftest-break") == 0;
	if (argc != 2 + selftest_break)
		return 2;
	sigemptyset(&waited);
	sigaddset(&waited, SIGUSR1);
	sigaddset(&waited, SIGUSR2);
	sigprocmask(SIG_BLOCK, &waited, NULL);
	struct identity me = {getpid(), 0, getpid(), getpid()};
	if (set_up(argv[argc - 1])) {
		printf("FAIL pid=%d setup: %s\n", me.pid, strerror(errno));
		return 1;
	}
	fflush(stdout);

	pid_t zombie = fork();
	if (zombie == 0)
		_exit(ZOMBIE_STATUS);
	pid_t pids[MEMBERS];
	pids[M_S] = fork();
	if (pids[M_S] == 0)
		run_s(me.pid);
	pids[M_G] = fork();
	if (pids[M_G] == 0)
		run_g(me.pid);
	if (zombie < 0 || pids[M_S] < 0 || pids[M_G] < 0) {
		printf("FAIL pid=%d fork: %s\n", me.pid, strerror(errno));
		return 1;
	}
	close(flight[1]);
	close(results[1]);

	for (int count = 0; count < MEMBERS; count++) {
		char message[MESSAGE_LEN];
		int index, pid;
		if (receive_message(message) || sscanf(message, "ready %d %d", &index, &pid) != 2 ||
		    index < 0 || index >= MEMBERS) {
			printf("FAIL pid=%d no ready message from every child\n", me.pid);
			return 1;
		}
		pids[index] = pid;
	}
	char stolen[TRAILER_LEN];
	if (selftest_break && read_all(flight[0], stolen, sizeof(stolen)))
		return 1;
	close(flight[0]);
	siginfo_t exited;
	int reap = selftest_break ? 0 : WNOWAIT;
	while (waitid(P_PID, zombie, &exited, WEXITED | reap) < 0 && errno == EINTR)
		;
	printf("ready pid=%d z=%d s=%d g=%d gg=%d\n", me.pid, zombie, pids[M_S], pids[M_G],
	       pids[M_GG]);
	fflush(stdout);

	while (next_signal() != SIGUSR1)
		;
	return report(&me, zombie, pids);
}
