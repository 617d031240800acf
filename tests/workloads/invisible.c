/*
 * A process holding files that have no name left:
 *  - an unlinked file (mode 0640, a hole in its middle) held by an fd at an
 *    offset and by a shared mapping that wrote into it;
 *  - a memfd sealed against growing and shrinking, held by an fd at an
 *    offset, a shared mapping and a private mapping with a private change;
 *  - a second memfd sealed against writes and further seals, fd only;
 *  - a working directory (mode 0750) that was removed.
 *
 * argv[1] is a directory for its files; argv[2], if given, is the size the
 * unlinked file is grown to (to be over crust's ghost limit). It prints
 * `ready pid=P` and waits; on SIGUSR1 it checks everything and prints one
 * line, `OK ...` or `FAIL <what>`, and exits 0 or 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096
#define GHOST_SIZE (3 * PAGE + 100)
#define GHOST_OFFSET 5000
#define MEMFD_NAME "crust-invisible"
#define MEMFD_SIZE (2 * PAGE + 10)
#define MEMFD_OFFSET 777
#define MEMFD_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)
#define SEALED_NAME "crust-sealed"
#define SEALED_TEXT "sealed against writes"
#define SEALED_SEALS (F_SEAL_WRITE | F_SEAL_SEAL)

static volatile sig_atomic_t asked;
static void on_usr1(int sig) { (void)sig; asked = 1; }

static int ghost_fd, memfd, sealed_fd;
static char *ghost_map, *shared_map, *private_map;
static off_t ghost_size = GHOST_SIZE;
static int hole_reported;
static char ghost_path[4096], work_path[4096];
static char failures[512];

static void fail(const char *what)
{
	strncat(failures, " ", sizeof(failures) - strlen(failures) - 1);
	strncat(failures, what, sizeof(failures) - strlen(failures) - 1);
}

/* Whether /proc/self/fd/FD reads `expected`. */
static int link_is(const char *link, const char *expected)
{
	char got[4096];
	ssize_t n = readlink(link, got, sizeof(got) - 1);
	if (n < 0)
		return 0;
	got[n] = 0;
	return strcmp(got, expected) == 0;
}

static int fd_link_is(int fd, const char *expected)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	return link_is(link, expected);
}

/* Whether /proc/self/maps has a line ending in `name`. */
static int mapped(const char *name)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[8192];
	int found = 0;
	if (!maps)
		return 0;
	while (!found && fgets(line, sizeof(line), maps)) {
		line[strcspn(line, "\n")] = 0;
		size_t len = strlen(line), want = strlen(name);
		found = len >= want && strcmp(line + len - want, name) == 0;
	}
	fclose(maps);
	return found;
}

static char ghost_byte(off_t at)
{
	if (at == 10)
		return 'M';
	if (at < PAGE)
		return 'a';
	if (at < 2 * PAGE)
		return 0;
	if (at < GHOST_SIZE)
		return 'c';
	return 0;
}

static void check_ghost(void)
{
	struct stat st;
	char deleted[4200];
	if (fstat(ghost_fd, &st) || st.st_nlink != 0 || st.st_size != ghost_size
	    || (st.st_mode & 07777) != 0640 || !S_ISREG(st.st_mode))
		fail("ghost-stat");
	if (lseek(ghost_fd, 0, SEEK_CUR) != GHOST_OFFSET)
		fail("ghost-offset");
	static char got[GHOST_SIZE];
	if (pread(ghost_fd, got, GHOST_SIZE, 0) != GHOST_SIZE)
		fail("ghost-read");
	for (off_t at = 0; at < GHOST_SIZE; at++)
		if (got[at] != ghost_byte(at)) {
			fail("ghost-contents");
			break;
		}
	if (hole_reported && lseek(ghost_fd, PAGE, SEEK_DATA) != 2 * PAGE)
		fail("ghost-hole");
	if (pwrite(ghost_fd, "W", 1, 20) != 1 || ghost_map[20] != 'W')
		fail("ghost-fd-to-mapping");
	ghost_map[30] = 'V';
	if (pread(ghost_fd, got, 1, 30) != 1 || got[0] != 'V')
		fail("ghost-mapping-to-fd");
	snprintf(deleted, sizeof(deleted), "%s (deleted)", ghost_path);
	if (!fd_link_is(ghost_fd, deleted))
		fail("ghost-fd-name");
	if (!mapped(deleted))
		fail("ghost-mapping-name");
}

static void check_memfds(void)
{
	struct stat st;
	if (fstat(memfd, &st) || st.st_nlink != 0 || st.st_size != MEMFD_SIZE)
		fail("memfd-stat");
	if (fcntl(memfd, F_GET_SEALS) != MEMFD_SEALS)
		fail("memfd-seals");
	if (lseek(memfd, 0, SEEK_CUR) != MEMFD_OFFSET)
		fail("memfd-offset");
	static char got[MEMFD_SIZE];
	if (pread(memfd, got, MEMFD_SIZE, 0) != MEMFD_SIZE)
		fail("memfd-read");
	for (int at = 0; at < MEMFD_SIZE; at++)
		if (got[at] != (at == 50 ? 'S' : 'm')) {
			fail("memfd-contents");
			break;
		}
	if (pwrite(memfd, "X", 1, 100) != 1 || shared_map[100] != 'X')
		fail("memfd-fd-to-mapping");
	shared_map[200] = 'Y';
	if (pread(memfd, got, 1, 200) != 1 || got[0] != 'Y')
		fail("memfd-mapping-to-fd");
	if (private_map[0] != 'P' || private_map[1] != 'm' || private_map[100] != 'm')
		fail("memfd-private-mapping");
	if (ftruncate(memfd, MEMFD_SIZE + PAGE) == 0)
		fail("memfd-grew-despite-seal");
	if (!fd_link_is(memfd, "/memfd:" MEMFD_NAME " (deleted)"))
		fail("memfd-fd-name");
	if (!mapped("/memfd:" MEMFD_NAME " (deleted)"))
		fail("memfd-mapping-name");

	char sealed[64] = {0};
	if (fcntl(sealed_fd, F_GET_SEALS) != SEALED_SEALS)
		fail("sealed-seals");
	if (pread(sealed_fd, sealed, sizeof(sealed) - 1, 0) != (ssize_t)strlen(SEALED_TEXT)
	    || strcmp(sealed, SEALED_TEXT) != 0)
		fail("sealed-contents");
	if (pwrite(sealed_fd, "x", 1, 0) != -1 || errno != EPERM)
		fail("sealed-accepts-writes");
	if (!fd_link_is(sealed_fd, "/memfd:" SEALED_NAME " (deleted)"))
		fail("sealed-fd-name");
}

static void check_cwd(void)
{
	struct stat st;
	char deleted[4200];
	snprintf(deleted, sizeof(deleted), "%s (deleted)", work_path);
	if (!link_is("/proc/self/cwd", deleted))
		fail("cwd-name");
	if (stat(".", &st) || !S_ISDIR(st.st_mode) || st.st_nlink != 0
	    || (st.st_mode & 07777) != 0750)
		fail("cwd-stat");
}

static int make_ghost(const char *dir)
{
	char page[2 * PAGE];
	snprintf(ghost_path, sizeof(ghost_path), "%s/ghost.dat", dir);
	ghost_fd = open(ghost_path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (ghost_fd < 0 || fchmod(ghost_fd, 0640))
		return -1;
	memset(page, 'a', sizeof(page));
	if (pwrite(ghost_fd, page, PAGE, 0) != PAGE)
		return -1;
	memset(page, 'c', sizeof(page));
	if (pwrite(ghost_fd, page, GHOST_SIZE - 2 * PAGE, 2 * PAGE) != GHOST_SIZE - 2 * PAGE)
		return -1;
	ghost_map = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, ghost_fd, 0);
	if (ghost_map == MAP_FAILED)
		return -1;
	ghost_map[10] = 'M';
	if (ghost_size != GHOST_SIZE && ftruncate(ghost_fd, ghost_size))
		return -1;
	lseek(ghost_fd, GHOST_OFFSET, SEEK_SET);
	hole_reported = lseek(ghost_fd, PAGE, SEEK_DATA) == 2 * PAGE;
	lseek(ghost_fd, GHOST_OFFSET, SEEK_SET);
	return unlink(ghost_path);
}

static int make_memfds(void)
{
	static char contents[MEMFD_SIZE];
	memfd = memfd_create(MEMFD_NAME, MFD_ALLOW_SEALING);
	memset(contents, 'm', MEMFD_SIZE);
	if (memfd < 0 || write(memfd, contents, MEMFD_SIZE) != MEMFD_SIZE)
		return -1;
	if (fcntl(memfd, F_ADD_SEALS, MEMFD_SEALS))
		return -1;
	shared_map = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	private_map = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, memfd, 0);
	if (shared_map == MAP_FAILED || private_map == MAP_FAILED)
		return -1;
	shared_map[50] = 'S';
	private_map[0] = 'P';
	lseek(memfd, MEMFD_OFFSET, SEEK_SET);

	sealed_fd = memfd_create(SEALED_NAME, MFD_ALLOW_SEALING);
	if (sealed_fd < 0 || write(sealed_fd, SEALED_TEXT, strlen(SEALED_TEXT)) < 0)
		return -1;
	return fcntl(sealed_fd, F_ADD_SEALS, SEALED_SEALS);
}

static int remove_cwd(const char *dir)
{
	snprintf(work_path, sizeof(work_path), "%s/work", dir);
	if (mkdir(work_path, 0700) || chmod(work_path, 0750) || chdir(work_path))
		return -1;
	return rmdir(work_path);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	if (argc > 2)
		ghost_size = strtoll(argv[2], NULL, 0);
	signal(SIGUSR1, on_usr1);
	if (make_ghost(argv[1]))
		return perror("ghost"), 3;
	if (make_memfds())
		return perror("memfd"), 4;
	if (remove_cwd(argv[1]))
		return perror("cwd"), 5;
	printf("ready pid=%d hole=%d\n", getpid(), hole_reported);
	fflush(stdout);
	while (!asked)
		pause();
	check_ghost();
	check_memfds();
	check_cwd();
	if (failures[0]) {
		printf("FAIL%s\n", failures);
		return 1;
	}
	printf("OK pid=%d ghost=ok memfd=ok cwd=ok\n", getpid());
	return 0;
}
