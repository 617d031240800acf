/*
 * A process holding both ends of a pseudo-terminal, whose slave is its
 * controlling terminal (it leads its session), with bytes queued both ways,
 * its own terminal settings and window size, the master in packet mode and
 * the slave locked once open.
 *
 * argv[1] is unused (a directory, by the tests' convention). It prints
 * `ready pid=P pts=N` and waits; on SIGUSR1 it checks that everything is as
 * it left it (same index, settings, modes, controlling terminal, and the
 * queued bytes, read out now) and prints one line, `OK ...` or
 * `FAIL <what>`, and exits 0 or 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#define TO_SLAVE "first line for the slave\nsecond line\n"
#define FROM_SLAVE "written by the slave\n"
/* What the master reads: packet mode's data byte, then ONLCR's translation. */
#define MASTER_READS "\0written by the slave\r\n"
#define ROWS 37
#define COLS 111

static volatile sig_atomic_t asked;
static void on_usr1(int sig) { (void)sig; asked = 1; }

static int master, slave;
static unsigned index_at_start;
static char failures[512];

static void fail(const char *what)
{
	strncat(failures, " ", sizeof(failures) - strlen(failures) - 1);
	strncat(failures, what, sizeof(failures) - strlen(failures) - 1);
}

static void wanted_termios(struct termios *t)
{
	tcgetattr(slave, t);
	t->c_lflag = ICANON | ISIG;
	/* IXON kept: a change of flow control would queue a packet-mode status byte. */
	t->c_iflag = ICRNL | IXON;
	t->c_oflag = OPOST | ONLCR;
	t->c_cc[VINTR] = 7;
	t->c_cc[VEOF] = 4;
	t->c_cc[VERASE] = 8;
	cfsetispeed(t, B9600);
	cfsetospeed(t, B9600);
}

/* Everything readable from fd within a short while, up to size bytes. */
static ssize_t read_available(int fd, char *buf, size_t size)
{
	size_t got = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	while (got < size && poll(&p, 1, 200) == 1 && (p.revents & POLLIN)) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n <= 0)
			break;
		got += n;
	}
	return got;
}

static void check_terminal(void)
{
	unsigned index = ~0u;
	int locked = 0, packet = 0;
	if (ioctl(master, TIOCGPTN, &index) || index != index_at_start)
		fail("index");
	char path[64];
	snprintf(path, sizeof(path), "/dev/pts/%u", index_at_start);
	char *name = ttyname(slave);
	if (!name || strcmp(name, path) != 0)
		fail("slave-name");
	if (ioctl(master, TIOCGPTLCK, &locked) || !locked)
		fail("locked");
	if (ioctl(master, TIOCGPKT, &packet) || !packet)
		fail("packet-mode");
	struct termios now, want;
	wanted_termios(&want);
	tcgetattr(slave, &now);
	if (now.c_lflag != want.c_lflag || now.c_iflag != want.c_iflag ||
	    now.c_oflag != want.c_oflag || now.c_cc[VINTR] != 7 || now.c_cc[VERASE] != 8 ||
	    cfgetospeed(&now) != B9600)
		fail("termios");
	struct winsize ws;
	if (ioctl(slave, TIOCGWINSZ, &ws) || ws.ws_row != ROWS || ws.ws_col != COLS)
		fail("winsize");
	if (tcgetsid(slave) != getpid() || tcgetpgrp(slave) != getpgrp())
		fail("controlling-terminal");
}

static void check_queues(void)
{
	char buf[256] = {0};
	ssize_t n = read_available(slave, buf, sizeof(buf) - 1);
	if (n != (ssize_t)strlen(TO_SLAVE) || memcmp(buf, TO_SLAVE, n) != 0)
		fail("slave-queue");
	memset(buf, 0, sizeof(buf));
	n = read_available(master, buf, sizeof(buf));
	if (n != (ssize_t)sizeof(MASTER_READS) - 1 || memcmp(buf, MASTER_READS, n) != 0)
		fail("master-queue");
	/* The pair still works both ways. */
	if (write(master, "ping\n", 5) != 5 || read_available(slave, buf, sizeof(buf)) != 5 ||
	    memcmp(buf, "ping\n", 5) != 0)
		fail("pair-works");
}

static int wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 5000) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	(void)argv;
	if (argc != 2)
		return 2;
	signal(SIGUSR1, on_usr1);
	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) || unlockpt(master))
		return 3;
	if (ioctl(master, TIOCGPTN, &index_at_start))
		return 4;
	/* No O_NOCTTY: it becomes the controlling terminal of this session. */
	slave = open(ptsname(master), O_RDWR);
	if (slave < 0)
		return 5;
	int on = 1;
	if (ioctl(master, TIOCPKT, &on) || ioctl(master, TIOCSPTLCK, &on))
		return 6;
	struct termios t;
	wanted_termios(&t);
	struct winsize ws = { .ws_row = ROWS, .ws_col = COLS };
	if (tcsetattr(slave, TCSANOW, &t) || ioctl(slave, TIOCSWINSZ, &ws))
		return 7;
	if (write(master, TO_SLAVE, strlen(TO_SLAVE)) < 0 ||
	    write(slave, FROM_SLAVE, strlen(FROM_SLAVE)) < 0)
		return 8;
	/* Both queues are filled (the kernel moves the bytes asynchronously). */
	if (wait_readable(slave) || wait_readable(master))
		return 9;
	printf("ready pid=%d pts=%u\n", getpid(), index_at_start);
	fflush(stdout);
	while (!asked)
		pause();
	check_terminal();
	check_queues();
	if (failures[0]) {
		printf("FAIL%s\n", failures);
		return 1;
	}
	printf("OK pid=%d pts=%u termios=ok winsize=ok modes=ok queues=ok\n", getpid(),
	       index_at_start);
	return 0;
}
