/*
 * Writes "N\n" to stdout every 20 ms, N = 0, 1, 2, ..., until a write fails.
 * Every descriptor above stderr is closed first (the session's shell hands
 * fd 251 to every process), so that stdout is its only pipe.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
	if (close_range(3, ~0U, 0) != 0)
		return 2;
	for (unsigned long count = 0;; count++) {
		char line[32];
		int length = snprintf(line, sizeof line, "%lu\n", count);
		if (write(STDOUT_FILENO, line, length) != length)
			return 1;
		/* A dump interrupts the sleep; it then ends early, which is harmless. */
		struct timespec pause = { .tv_sec = 0, .tv_nsec = 20 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
}
