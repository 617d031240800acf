/*
 * A process whose memory mappings must come back exactly:
 * - 1 MiB of shared anonymous memory filled with 'x', half of it then
 *   MADV_DONTNEED'ed (the data stays in the shmem object, out of the page
 *   tables: a dump reading only present pages would lose it);
 * - a file mapped MAP_SHARED, page 0 written before the dump; page 1 is
 *   written after the restore and must reach the file;
 * - a file mapped MAP_PRIVATE, page 2 changed in memory (copied on write):
 *   the change must survive and the file must not see it;
 * - an mlock()ed area (it must come back locked);
 * - data behind PROT_NONE and write-only protections (the process cannot
 *   read it itself; its protection must come back as it was).
 *
 * argv[1] is a directory for its files. It prints `ready pid=P`; on SIGUSR1
 * it checks and prints `OK ...` or `FAIL <what>`.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096
#define SHARED_ANON (1 << 20)

static volatile sig_atomic_t asked;
static void on_usr1(int sig) { (void)sig; asked = 1; }
static char failures[256];

static void fail(const char *what)
{
	strncat(failures, " ", sizeof(failures) - strlen(failures) - 1);
	strncat(failures, what, sizeof(failures) - strlen(failures) - 1);
}

static int file_of(const char *dir, const char *name, char fill)
{
	char path[4096], block[4 * PAGE];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	memset(block, fill, sizeof(block));
	if (fd < 0 || write(fd, block, sizeof(block)) != (ssize_t)sizeof(block))
		return -1;
	return fd;
}

static char byte_at(int fd, off_t offset)
{
	char c = 0;
	return pread(fd, &c, 1, offset) == 1 ? c : 0;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	signal(SIGUSR1, on_usr1);
	char *anon = mmap(0, SHARED_ANON, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int shared_fd = file_of(argv[1], "shared", 's');
	int private_fd = file_of(argv[1], "private", 'f');
	if (anon == MAP_FAILED || shared_fd < 0 || private_fd < 0)
		return 3;
	char *shared = mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, shared_fd, 0);
	char *private = mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, private_fd, 0);
	if (shared == MAP_FAILED || private == MAP_FAILED)
		return 4;
	char *hidden = mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *write_only = mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hidden == MAP_FAILED || write_only == MAP_FAILED)
		return 5;
	memset(hidden, 'h', 4 * PAGE);
	memset(write_only, 'o', 4 * PAGE);
	mprotect(hidden, 4 * PAGE, PROT_NONE);
	mprotect(write_only, 4 * PAGE, PROT_WRITE);
	char *locked = mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (locked == MAP_FAILED || mlock(locked, 4 * PAGE))
		return 6;
	memset(anon, 'x', SHARED_ANON);
	madvise(anon, SHARED_ANON / 2, MADV_DONTNEED);
	shared[0] = 'S';
	private[2 * PAGE] = 'P';
	printf("ready pid=%d\n", getpid());
	fflush(stdout);
	while (!asked)
		pause();

	if (anon[0] != 'x' || anon[SHARED_ANON / 2 - 1] != 'x' || anon[SHARED_ANON - 1] != 'x')
		fail("shared-anonymous");
	shared[PAGE] = 'T';
	msync(shared, 4 * PAGE, MS_SYNC);
	if (byte_at(shared_fd, 0) != 'S' || byte_at(shared_fd, PAGE) != 'T')
		fail("shared-file");
	if (private[2 * PAGE] != 'P' || private[0] != 'f' || byte_at(private_fd, 2 * PAGE) != 'f')
		fail("private-file");
	/* mincore works on any protection; a wrong one shows in /proc/self/maps. */
	char maps[65536] = {0}, hidden_line[64], write_only_line[64];
	int maps_fd = open("/proc/self/maps", O_RDONLY);
	if (maps_fd < 0 || read(maps_fd, maps, sizeof(maps) - 1) <= 0)
		fail("maps");
	snprintf(hidden_line, sizeof(hidden_line), "%lx-%lx ---p", (unsigned long)hidden, (unsigned long)(hidden + 4 * PAGE));
	snprintf(write_only_line, sizeof(write_only_line), "%lx-%lx -w-p", (unsigned long)write_only, (unsigned long)(write_only + 4 * PAGE));
	if (!strstr(maps, hidden_line) || !strstr(maps, write_only_line))
		fail("protections");
	char status[8192] = {0};
	int status_fd = open("/proc/self/status", O_RDONLY);
	if (status_fd < 0 || read(status_fd, status, sizeof(status) - 1) <= 0 || !strstr(status, "VmLck:\t      16 kB"))
		fail("mlock");
	mprotect(hidden, 4 * PAGE, PROT_READ);
	mprotect(write_only, 4 * PAGE, PROT_READ);
	if (hidden[0] != 'h' || hidden[4 * PAGE - 1] != 'h' || write_only[PAGE] != 'o')
		fail("unreadable-data");
	if (failures[0]) {
		printf("FAIL%s\n", failures);
		return 1;
	}
	printf("OK pid=%d shared-anonymous=ok shared-file=ok private-file=ok unreadable=ok locked=ok\n", getpid());
	return 0;
}
