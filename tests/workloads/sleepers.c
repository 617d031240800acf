/*
 * A flat tree for benchmarks: the root forks COUNT - 1 children; each fills
 * KIB KiB of its own memory with a pattern of its index and sleeps.
 *
 * Usage: sleepers COUNT [KIB]   (default KIB: 256)
 * The root prints `ready pid=P processes=COUNT` once every child has
 * written its memory. On SIGUSR1 it asks each child in turn (SIGUSR1) to
 * verify its memory, pid and parent; each answers one byte through a pipe
 * only the root reads. The root then ends the children (SIGUSR2), reaps
 * them, and prints `OK pid=P processes=COUNT` or `FAIL pid=P bad=N`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static sigset_t waited;

static int next_signal(void)
{
	for (;;) {
		int sig = sigwaitinfo(&waited, NULL);
		if (sig > 0 || errno != EINTR)
			return sig;
	}
}

static uint64_t word(long index, size_t at)
{
	return ((uint64_t)index << 40) ^ (at * 0x9e3779b97f4a7c15ULL);
}

static void child(long index, size_t bytes, pid_t root, int answers)
{
	uint64_t *memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (memory == MAP_FAILED)
		_exit(3);
	for (size_t at = 0; at < bytes / 8; at++)
		memory[at] = word(index, at);
	pid_t me = getpid();
	char byte = 'r';
	if (write(answers, &byte, 1) != 1)
		_exit(4);
	while (next_signal() == SIGUSR1) {
		int good = getpid() == me && getppid() == root;
		for (size_t at = 0; good && at < bytes / 8; at++)
			good = memory[at] == word(index, at);
		byte = good ? '+' : '-';
		if (write(answers, &byte, 1) != 1)
			_exit(5);
	}
	_exit(0);
}

static int read_byte(int fd, char *byte)
{
	ssize_t n;
	while ((n = read(fd, byte, 1)) < 0 && errno == EINTR)
		;
	return n == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	long count = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
	size_t bytes = (argc > 2 ? strtoul(argv[2], NULL, 10) : 256) << 10;
	if (count < 1)
		return 2;
	pid_t *pids = calloc((size_t)count, sizeof(*pids));
	/*
	 * The root keeps both ends of the answers pipe (a lone root needs none):
	 * the benchmark measures trees, not pipes split across processes.
	 */
	int answers[2] = {-1, -1};
	if (!pids || (count > 1 && pipe(answers)))
		return 3;
	sigemptyset(&waited);
	sigaddset(&waited, SIGUSR1);
	sigaddset(&waited, SIGUSR2);
	sigprocmask(SIG_BLOCK, &waited, NULL);
	pid_t root = getpid();
	fflush(stdout);

	for (long index = 1; index < count; index++) {
		pids[index] = fork();
		if (pids[index] < 0)
			return 4;
		if (pids[index] == 0) {
			close(answers[0]);
			child(index, bytes, root, answers[1]);
		}
	}
	for (long index = 1; index < count; index++) {
		char byte;
		if (read_byte(answers[0], &byte) || byte != 'r')
			return 5;
	}
	printf("ready pid=%d processes=%ld\n", root, count);
	fflush(stdout);

	while (next_signal() != SIGUSR1)
		;
	long bad = 0;
	for (long index = 1; index < count; index++) {
		char byte = 0;
		if (kill(pids[index], SIGUSR1) || read_byte(answers[0], &byte) || byte != '+')
			bad++;
	}
	for (long index = 1; index < count; index++)
		kill(pids[index], SIGUSR2);
	for (long index = 1; index < count; index++)
		while (waitpid(pids[index], NULL, 0) < 0 && errno == EINTR)
			;
	if (bad) {
		printf("FAIL pid=%d bad=%ld\n", root, bad);
		return 1;
	}
	printf("OK pid=%d processes=%ld\n", root, count);
	return 0;
}
