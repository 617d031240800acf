/*
 * One process with many threads, for benchmarks: the main thread starts
 * COUNT - 1 threads (64 KiB stacks), each of which records its tid and a
 * value on its stack and waits on a condition variable.
 *
 * Usage: many_threads COUNT
 * Prints `ready pid=P threads=COUNT` once every thread waits. On SIGUSR1
 * it wakes them all; each checks its tid and stack value and counts itself
 * in; the main thread prints `OK pid=P threads=COUNT` or
 * `FAIL pid=P bad=N` and exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define STACK_BYTES (64 << 10)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static long waiting, checked, bad;
static int woken;

static void *thread_main(void *arg)
{
	volatile long mark = (long)arg * 7919;
	pid_t tid = gettid();
	pthread_mutex_lock(&lock);
	waiting++;
	pthread_cond_broadcast(&changed);
	while (!woken)
		pthread_cond_wait(&changed, &lock);
	if (gettid() != tid || mark != (long)arg * 7919)
		bad++;
	checked++;
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(int argc, char **argv)
{
	long count = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
	if (count < 1)
		return 2;
	sigset_t waited;
	sigemptyset(&waited);
	sigaddset(&waited, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &waited, NULL);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_BYTES);
	pthread_t *threads = calloc((size_t)count, sizeof(*threads));
	if (!threads)
		return 3;
	for (long index = 1; index < count; index++)
		if (pthread_create(&threads[index], &attr, thread_main, (void *)index))
			return 4;
	pthread_mutex_lock(&lock);
	while (waiting < count - 1)
		pthread_cond_wait(&changed, &lock);
	pthread_mutex_unlock(&lock);
	printf("ready pid=%d threads=%ld\n", getpid(), count);
	fflush(stdout);

	while (sigwaitinfo(&waited, NULL) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&lock);
	woken = 1;
	pthread_cond_broadcast(&changed);
	while (checked < count - 1)
		pthread_cond_wait(&changed, &lock);
	pthread_mutex_unlock(&lock);
	for (long index = 1; index < count; index++)
		pthread_join(threads[index], NULL);
	if (bad) {
		printf("FAIL pid=%d bad=%ld\n", getpid(), bad);
		return 1;
	}
	printf("OK pid=%d threads=%ld\n", getpid(), count);
	return 0;
}
