/*
 * A process whose open files must come back exactly: a pipe it holds both
 * ends of with bytes in flight (read end O_NONBLOCK), a data file open
 * O_RDWR at an odd offset plus a dup() of it (one description: one offset),
 * a log file open O_APPEND, /dev/null, /dev/zero and /dev/urandom, and a
 * close-on-exec fd.
 *
 * argv[1] is a directory for its files. It prints `ready pid=P` and waits;
 * on SIGUSR1 it checks everything and prints one line, `OK ...` or
 * `FAIL <what>`, and exits 0 or 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIPE_DATA "bytes in flight through the pipe"
#define DATA_OFFSET 12345

static volatile sig_atomic_t asked;
static void on_usr1(int sig) { (void)sig; asked = 1; }

static int pipe_fds[2], data_fd, data_dup, log_fd, null_fd, zero_fd, random_fd, cloexec_fd;
static char failures[512];

static void fail(const char *what)
{
	strncat(failures, " ", sizeof(failures) - strlen(failures) - 1);
	strncat(failures, what, sizeof(failures) - strlen(failures) - 1);
}

static void check_pipe(void)
{
	char got[64] = {0};
	ssize_t n = read(pipe_fds[0], got, sizeof(got) - 1);
	if (n != (ssize_t)strlen(PIPE_DATA) || strcmp(got, PIPE_DATA) != 0)
		fail("pipe-data");
	if (read(pipe_fds[0], got, 1) != -1 || errno != EAGAIN)
		fail("pipe-nonblock");
	if (write(pipe_fds[1], "x", 1) != 1 || read(pipe_fds[0], got, 1) != 1 || got[0] != 'x')
		fail("pipe-ends");
}

static void check_files(void)
{
	if (lseek(data_fd, 0, SEEK_CUR) != DATA_OFFSET)
		fail("data-offset");
	if (write(data_fd, "abc", 3) != 3 || lseek(data_dup, 0, SEEK_CUR) != DATA_OFFSET + 3)
		fail("dup-shares-offset");
	if (!(fcntl(log_fd, F_GETFL) & O_APPEND))
		fail("append-flag");
	if (!(fcntl(cloexec_fd, F_GETFD) & FD_CLOEXEC) || (fcntl(data_fd, F_GETFD) & FD_CLOEXEC))
		fail("cloexec");
	char zeros[16];
	memset(zeros, 1, sizeof(zeros));
	if (read(zero_fd, zeros, sizeof(zeros)) != sizeof(zeros) || zeros[0] || zeros[15])
		fail("dev-zero");
	if (write(null_fd, "x", 1) != 1 || read(random_fd, zeros, 4) != 4)
		fail("dev-null-or-urandom");
}

static int open_in(const char *dir, const char *name, int flags)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return open(path, flags, 0600);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	signal(SIGUSR1, on_usr1);
	if (pipe2(pipe_fds, 0) || write(pipe_fds[1], PIPE_DATA, strlen(PIPE_DATA)) < 0)
		return 3;
	fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
	data_fd = open_in(argv[1], "data", O_RDWR | O_CREAT);
	char block[DATA_OFFSET + 100];
	memset(block, 'd', sizeof(block));
	if (write(data_fd, block, sizeof(block)) != (ssize_t)sizeof(block))
		return 4;
	lseek(data_fd, DATA_OFFSET, SEEK_SET);
	data_dup = dup(data_fd);
	log_fd = open_in(argv[1], "log", O_WRONLY | O_CREAT | O_APPEND);
	cloexec_fd = open_in(argv[1], "log", O_RDONLY | O_CLOEXEC);
	null_fd = open("/dev/null", O_RDWR);
	zero_fd = open("/dev/zero", O_RDONLY);
	random_fd = open("/dev/urandom", O_RDONLY);
	printf("ready pid=%d\n", getpid());
	fflush(stdout);
	while (!asked)
		pause();
	check_pipe();
	check_files();
	if (failures[0]) {
		printf("FAIL%s\n", failures);
		return 1;
	}
	printf("OK pid=%d pipe=ok offsets=ok flags=ok devices=ok\n", getpid());
	return 0;
}
