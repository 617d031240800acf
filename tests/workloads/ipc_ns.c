/*
 * A tree of two processes in an IPC namespace of their own (started with
 * `unshare --ipc`), using one object of each SysV kind:
 *
 * - segment A (key SHM_KEY, mode 0640, not a multiple of the page size):
 *   filled with a pattern, attached by the root at ROOT_AT; its child
 *   inherits that attachment and attaches A again at CHILD_AT;
 * - segment B (IPC_PRIVATE, mode 0600): another pattern, attached read-only
 *   by the child alone at PRIVATE_AT;
 * - a semaphore set (key SEM_KEY, mode 0600) with NSEMS values;
 * - a message queue (key MSG_KEY, mode 0620, qbytes lowered to QBYTES) with
 *   four messages of different types, one of them empty.
 *
 * The namespace's msgmni sysctl is set to MSGMNI. argv[1] is a directory (the
 * tests' convention, unused). With argv[2] "--selftest-break" the root expects
 * a wrong semaphore value, so that its report must say FAIL: the checks can
 * fail. With "--rmid-forced" it also sets shm_rmid_forced once every segment
 * is attached (a segment nobody attaches is destroyed at once then).
 *
 * It prints `ready pid=P child=C shm=A,B sem=S msg=Q` (the objects' ids) and waits. On SIGUSR1 the root checks
 * everything by itself: the ids and keys the objects had (asked again by key
 * and with IPC_STAT), modes, sizes, attachment counts, the semaphore values,
 * the messages (received in order, with their types and bodies) and the
 * pattern; it writes a marker into A and has the child check, through its own
 * attachments, that it sees the marker and both patterns, and that B is
 * read-only for it. It prints one line, `OK pid=P ...` or `FAIL pid=P <what>`,
 * queues the messages again as they were, and waits for the next SIGUSR1.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define SHM_KEY 0x1c0ffee
#define SEM_KEY 0x5e4a
#define MSG_KEY 0x3e55
#define A_SIZE (3 * 4096 + 1000)
#define B_SIZE 5000
#define ROOT_AT ((void *)0x500000000000UL)
#define CHILD_AT ((void *)0x510000000000UL)
#define PRIVATE_AT ((void *)0x520000000000UL)
/* The last bytes of A carry the child's answer; the pattern stops before. */
#define ANSWER_LEN 64
#define PATTERN_END (A_SIZE - ANSWER_LEN)
#define MARK_AT 100
#define NSEMS 5
#define QBYTES 8000
#define MSGMNI "1234"

static const unsigned short sem_values[NSEMS] = { 0, 1, 7, 300, 32767 };

struct message {
	long mtype;
	char mtext[512];
};

static const long msg_types[4] = { 1, 7, 2, 1 };
static const char *const msg_texts[4] = { "first", "second message, type 7", NULL, "" };
#define BINARY_LEN 300

static volatile sig_atomic_t asked;
static void on_usr1(int sig) { (void)sig; asked = 1; }

static char failures[1024];
static void fail(const char *what)
{
	strncat(failures, " ", sizeof(failures) - strlen(failures) - 1);
	strncat(failures, what, sizeof(failures) - strlen(failures) - 1);
}

static unsigned char pattern_a(size_t i) { return (unsigned char)(i * 7 + 3); }
static unsigned char pattern_b(size_t i) { return (unsigned char)(i * 13 + 5); }

static size_t message_len(int n) { return msg_texts[n] ? strlen(msg_texts[n]) : BINARY_LEN; }
static void message_body(int n, char *out)
{
	if (msg_texts[n]) {
		memcpy(out, msg_texts[n], strlen(msg_texts[n]));
		return;
	}
	for (int i = 0; i < BINARY_LEN; i++)
		out[i] = (char)(255 - i);
}

static int shm_a, shm_b, sem_set, queue;
static int rmid_forced;

static int write_sysctl(const char *name, const char *value)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/sys/kernel/%s", name);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int ok = fputs(value, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* Whether sysctl `name` reads `value` (followed by a newline). */
static int sysctl_is(const char *name, const char *value)
{
	char path[128], text[64] = { 0 };
	snprintf(path, sizeof(path), "/proc/sys/kernel/%s", name);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t got = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	return got == strlen(value) + 1 && strncmp(text, value, strlen(value)) == 0;
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static void make_objects(void)
{
	if (write_sysctl("msgmni", MSGMNI) != 0)
		die("msgmni");
	shm_a = shmget(SHM_KEY, A_SIZE, IPC_CREAT | IPC_EXCL | 0640);
	shm_b = shmget(IPC_PRIVATE, B_SIZE, IPC_CREAT | 0600);
	if (shm_a < 0 || shm_b < 0)
		die("shmget");
	unsigned char *a = shmat(shm_a, ROOT_AT, 0);
	unsigned char *b = shmat(shm_b, NULL, 0);
	if (a != ROOT_AT || b == (void *)-1)
		die("shmat");
	for (size_t i = 0; i < PATTERN_END; i++)
		a[i] = pattern_a(i);
	for (size_t i = 0; i < B_SIZE; i++)
		b[i] = pattern_b(i);
	shmdt(b);

	sem_set = semget(SEM_KEY, NSEMS, IPC_CREAT | IPC_EXCL | 0600);
	if (sem_set < 0 || semctl(sem_set, 0, SETALL, sem_values) != 0)
		die("semaphores");

	queue = msgget(MSG_KEY, IPC_CREAT | IPC_EXCL | 0620);
	struct msqid_ds ds;
	if (queue < 0 || msgctl(queue, IPC_STAT, &ds) != 0)
		die("msgget");
	ds.msg_qbytes = QBYTES;
	if (msgctl(queue, IPC_SET, &ds) != 0)
		die("msgctl IPC_SET");
	for (int n = 0; n < 4; n++) {
		struct message m = { .mtype = msg_types[n] };
		message_body(n, m.mtext);
		if (msgsnd(queue, &m, message_len(n), IPC_NOWAIT) != 0)
			die("msgsnd");
	}
}

/* The child: attaches A again and B read-only, then answers each SIGUSR1. */
static void child_answers(void)
{
	unsigned char *again = shmat(shm_a, CHILD_AT, 0);
	const unsigned char *b = shmat(shm_b, PRIVATE_AT, SHM_RDONLY);
	if (again != CHILD_AT || b != PRIVATE_AT)
		die("child shmat");
	const unsigned char *inherited = ROOT_AT;
	for (;;) {
		while (!asked)
			pause();
		asked = 0;
		const char *wrong = NULL;
		for (size_t i = 0; i < PATTERN_END && !wrong; i++) {
			unsigned char want = i == MARK_AT ? 0xa5 : pattern_a(i);
			if (again[i] != want)
				wrong = "A's bytes at the child's own attachment";
			else if (inherited[i] != want)
				wrong = "A's bytes at the inherited attachment";
		}
		for (size_t i = 0; i < B_SIZE && !wrong; i++)
			if (b[i] != pattern_b(i))
				wrong = "B's bytes";
		/* Read-only: /proc/self/maps shows r--s at PRIVATE_AT. */
		FILE *maps = fopen("/proc/self/maps", "r");
		char line[256];
		int readonly = 0;
		while (maps && fgets(line, sizeof(line), maps))
			if (strtoul(line, NULL, 16) == (unsigned long)PRIVATE_AT)
				readonly = strstr(line, " r--s ") != NULL;
		if (maps)
			fclose(maps);
		if (!readonly && !wrong)
			wrong = "B is not attached read-only";
		char answer[ANSWER_LEN] = { 0 };
		snprintf(answer, sizeof(answer), "%s", wrong ? wrong : "yes");
		memcpy(again + PATTERN_END, answer, ANSWER_LEN);
	}
}

static void check_shm(void)
{
	struct shmid_ds ds;
	if (shmget(SHM_KEY, 0, 0) != shm_a)
		fail("A's id by its key");
	if (shmctl(shm_a, IPC_STAT, &ds) != 0)
		fail("A's IPC_STAT");
	else if (ds.shm_perm.__key != SHM_KEY || (ds.shm_perm.mode & 0777) != 0640 ||
		 ds.shm_segsz != A_SIZE || ds.shm_nattch != 3)
		fail("A's key, mode, size or attachments");
	if (shmctl(shm_b, IPC_STAT, &ds) != 0)
		fail("B's IPC_STAT");
	else if (ds.shm_perm.__key != IPC_PRIVATE || (ds.shm_perm.mode & 0777) != 0600 ||
		 ds.shm_segsz != B_SIZE || ds.shm_nattch != 1)
		fail("B's key, mode, size or attachments");
	const unsigned char *a = ROOT_AT;
	for (size_t i = 0; i < PATTERN_END; i++)
		if (i != MARK_AT && a[i] != pattern_a(i)) {
			fail("A's bytes at the root's attachment");
			break;
		}
}

static void check_sysctls(void)
{
	if (!sysctl_is("msgmni", MSGMNI))
		fail("msgmni");
	if (!sysctl_is("shm_rmid_forced", rmid_forced ? "1" : "0"))
		fail("shm_rmid_forced");
}

static void check_semaphores(int selftest_break)
{
	unsigned short values[NSEMS];
	struct semid_ds ds;
	union { struct semid_ds *buf; } arg = { .buf = &ds };
	if (semget(SEM_KEY, 0, 0) != sem_set)
		fail("the semaphore set's id by its key");
	if (semctl(sem_set, 0, IPC_STAT, arg) != 0 || (ds.sem_perm.mode & 0777) != 0600 ||
	    ds.sem_nsems != NSEMS)
		fail("the semaphore set's mode or size");
	if (semctl(sem_set, 0, GETALL, values) != 0) {
		fail("GETALL");
		return;
	}
	for (int i = 0; i < NSEMS; i++) {
		unsigned short want = sem_values[i] + (selftest_break && i == 2);
		if (values[i] != want)
			fail("a semaphore's value");
	}
}

static void check_messages(void)
{
	struct msqid_ds ds;
	if (msgget(MSG_KEY, 0) != queue)
		fail("the queue's id by its key");
	if (msgctl(queue, IPC_STAT, &ds) != 0 || (ds.msg_perm.mode & 0777) != 0620 ||
	    ds.msg_qbytes != QBYTES || ds.msg_qnum != 4) {
		fail("the queue's mode, qbytes or length");
		return;
	}
	for (int n = 0; n < 4; n++) {
		struct message got, want = { .mtype = msg_types[n] };
		message_body(n, want.mtext);
		ssize_t len = msgrcv(queue, &got, sizeof(got.mtext), 0, IPC_NOWAIT);
		if (len != (ssize_t)message_len(n) || got.mtype != want.mtype ||
		    memcmp(got.mtext, want.mtext, message_len(n)) != 0) {
			fail("a message's type, length or body");
			return;
		}
	}
	/* Queued again, in order, so that every report sees the same queue. */
	for (int n = 0; n < 4; n++) {
		struct message m = { .mtype = msg_types[n] };
		message_body(n, m.mtext);
		if (msgsnd(queue, &m, message_len(n), IPC_NOWAIT) != 0)
			fail("queueing a message again");
	}
}

/* Marks A, has the child check it; its answer comes back in A. */
static void check_child(pid_t child)
{
	unsigned char *a = ROOT_AT;
	memset(a + PATTERN_END, 0, ANSWER_LEN);
	a[MARK_AT] = 0xa5;
	kill(child, SIGUSR1);
	for (int tries = 0; tries < 500 && !a[PATTERN_END]; tries++)
		usleep(10000);
	char answer[ANSWER_LEN + 1] = { 0 };
	memcpy(answer, a + PATTERN_END, ANSWER_LEN);
	if (strcmp(answer, "yes") != 0) {
		char what[ANSWER_LEN + 16];
		snprintf(what, sizeof(what), "child: %s", answer[0] ? answer : "no answer");
		fail(what);
	}
	a[MARK_AT] = pattern_a(MARK_AT);
}

int main(int argc, char **argv)
{
	int selftest_break = argc > 2 && strcmp(argv[2], "--selftest-break") == 0;
	rmid_forced = argc > 2 && strcmp(argv[2], "--rmid-forced") == 0;
	signal(SIGUSR1, on_usr1);
	make_objects();
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0)
		child_answers();
	/* Ready once the child has made its own two attachments. */
	struct shmid_ds ds;
	for (int tries = 0; tries < 500; tries++) {
		if (shmctl(shm_a, IPC_STAT, &ds) == 0 && ds.shm_nattch == 3)
			break;
		usleep(10000);
	}
	if (rmid_forced && write_sysctl("shm_rmid_forced", "1") != 0)
		die("shm_rmid_forced");
	printf("ready pid=%d child=%d shm=%d,%d sem=%d msg=%d\n", getpid(), child, shm_a, shm_b,
	       sem_set, queue);
	fflush(stdout);
	for (;;) {
		while (!asked)
			pause();
		asked = 0;
		failures[0] = 0;
		check_sysctls();
		check_shm();
		check_semaphores(selftest_break);
		check_messages();
		check_child(child);
		if (failures[0])
			printf("FAIL pid=%d%s\n", getpid(), failures);
		else
			printf("OK pid=%d shm=%d,%d sem=%d msg=%d\n", getpid(), shm_a, shm_b, sem_set,
			       queue);
		fflush(stdout);
	}
}
