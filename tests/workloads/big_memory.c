/*
 * Holds a large anonymous buffer where every 8-byte word is its index XOR
 * a seed, written once, then sleeps in a loop. On SIGUSR1 it verifies the
 * whole buffer and prints `OK ...` or `FAIL first bad offset=0x...`, exiting
 * 0 or 1.
 *
 * Usage: big_memory [--selftest-corrupt] [MIB]   (default 2048 MiB)
 * stdout gets `ready pid=P buffer=START-END` once the buffer is written.
 * --selftest-corrupt flips one byte after `ready`, so the report must fail.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SEED 0xd1b54a32d192ed03ULL

static volatile sig_atomic_t report_requested;

static void on_usr1(int sig)
{
	(void)sig;
	report_requested = 1;
}

int main(int argc, char **argv)
{
	int selftest = 0;
	size_t mib = 2048;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--selftest-corrupt") == 0)
			selftest = 1;
		else
			mib = strtoul(argv[i], NULL, 10);
	}
	size_t size = mib << 20;
	size_t words = size / 8;

	struct sigaction sa = {0};
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL)) {
		printf("FAIL setup: sigaction: %s\n", strerror(errno));
		return 1;
	}

	uint64_t *buffer = mmap(NULL, size, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (buffer == MAP_FAILED) {
		printf("FAIL setup: mmap of %zu MiB: %s\n", mib, strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < words; i++)
		buffer[i] = i ^ SEED;

	printf("ready pid=%d buffer=%p-%p\n", getpid(), (void *)buffer,
	       (void *)((char *)buffer + size));
	fflush(stdout);
	if (selftest)
		((volatile uint8_t *)buffer)[size / 2 + 12345] ^= 0x01;

	struct timespec nap = {0, 50000000L};
	while (!report_requested)
		nanosleep(&nap, NULL);

	for (size_t i = 0; i < words; i++) {
		if (buffer[i] != (i ^ SEED)) {
			printf("FAIL first bad offset=0x%zx word=0x%016llx expected=0x%016llx\n",
			       i * 8, (unsigned long long)buffer[i],
			       (unsigned long long)(i ^ SEED));
			fflush(stdout);
			return 1;
		}
	}
	printf("OK verified=%zu MiB\n", mib);
	fflush(stdout);
	return 0;
}
