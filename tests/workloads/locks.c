/*
 * A process holding one lock of each kind crust restores with --file-locks:
 *   shared     flock(LOCK_SH) on DIR/shared
 *   exclusive  flock(LOCK_EX) on DIR/exclusive
 *   posix      fcntl(F_SETLK) write lock on bytes 100-149 of DIR/posix
 *   ofd        fcntl(F_OFD_SETLK) read lock on bytes 10-29 of DIR/ofd
 * plus, for checking them from inside, a second description of DIR/posix
 * and of DIR/ofd opened at start (never closed: closing any fd of a file
 * drops the process's POSIX locks on it).
 *
 * argv[1] is the directory. It prints `ready pid=P` and waits; on SIGUSR1
 * it checks that it still holds every lock and prints one line, `OK ...` or
 * `FAIL <what>`, then waits to be killed, still holding them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static volatile sig_atomic_t asked;
static void on_usr1(int sig) { (void)sig; asked = 1; }

static const char *dir;
static int shared_fd, exclusive_fd, posix_fd, ofd_fd, posix_probe, ofd_probe;
static char failures[512];

static void fail(const char *what)
{
	strncat(failures, " ", sizeof(failures) - strlen(failures) - 1);
	strncat(failures, what, sizeof(failures) - strlen(failures) - 1);
}

static int open_in(const char *name, int flags)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return open(path, flags | O_CREAT, 0600);
}

static int range_lock(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock lock = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
	return fcntl(fd, cmd, &lock);
}

/* What F_OFD_GETLK through `probe` finds in the way of a write lock on the whole file. */
static struct flock in_the_way(int probe)
{
	struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(probe, F_OFD_GETLK, &lock))
		lock.l_type = -1;
	return lock;
}

/* A new description of `name` cannot take `mode` (flock), but can take `other` when given. */
static void check_flock(const char *name, int mode, int other, const char *what)
{
	int fd = open_in(name, O_RDONLY);
	if (fd < 0 || flock(fd, mode | LOCK_NB) == 0 || errno != EWOULDBLOCK)
		fail(what);
	if (fd >= 0 && other && flock(fd, other | LOCK_NB) != 0)
		fail(what);
	if (fd >= 0)
		close(fd);
}

static void check_locks(void)
{
	check_flock("shared", LOCK_EX, LOCK_SH, "flock-shared");
	check_flock("exclusive", LOCK_SH, 0, "flock-exclusive");

	struct flock posix = in_the_way(posix_probe);
	if (posix.l_type != F_WRLCK || posix.l_pid != getpid() || posix.l_start != 100 ||
	    posix.l_len != 50)
		fail("posix-lock");
	struct flock ofd = in_the_way(ofd_probe);
	if (ofd.l_type != F_RDLCK || ofd.l_pid != -1 || ofd.l_start != 10 || ofd.l_len != 20)
		fail("ofd-lock");
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	dir = argv[1];
	signal(SIGUSR1, on_usr1);
	shared_fd = open_in("shared", O_RDONLY);
	exclusive_fd = open_in("exclusive", O_RDWR);
	posix_fd = open_in("posix", O_RDWR);
	ofd_fd = open_in("ofd", O_RDONLY);
	posix_probe = open_in("posix", O_RDWR);
	ofd_probe = open_in("ofd", O_RDWR);
	if (shared_fd < 0 || exclusive_fd < 0 || posix_fd < 0 || ofd_fd < 0 || posix_probe < 0 ||
	    ofd_probe < 0)
		return 3;
	if (flock(shared_fd, LOCK_SH) || flock(exclusive_fd, LOCK_EX) ||
	    range_lock(posix_fd, F_SETLK, F_WRLCK, 100, 50) ||
	    range_lock(ofd_fd, F_OFD_SETLK, F_RDLCK, 10, 20))
		return 4;
	printf("ready pid=%d\n", getpid());
	fflush(stdout);

	while (!asked)
		pause();
	check_locks();
	if (failures[0])
		printf("FAIL%s\n", failures);
	else
		printf("OK pid=%d locks held\n", getpid());
	fflush(stdout);
	for (;;)
		pause();
}
