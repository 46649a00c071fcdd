// SPDX-License-Identifier: GPL-2.0
/*
 * PID 1 of the workbench's guest: mount what the KVM selftests need, carry
 * out the test plan in /plan, stream KTAP to the console and power off.
 *
 * The plan is line oriented; blank lines and lines starting with '#' are
 * ignored.  Every other line is one KTAP test:
 *
 *   set PATH VALUE              write VALUE to PATH (sysfs, procfs)
 *   setsym PATH start|end SYM   write where kernel symbol SYM starts or ends
 *   hugepages SIZE_KB COUNT     reserve COUNT hugepages of SIZE_KB, verify
 *   run NAME TIMEOUT_S ARGV...  run ARGV; exit 0 passes, 4 (KSFT_SKIP) skips
 *   cat NAME PATH               copy PATH to the console, as diagnostics
 *   kunit SUITE [RESULTS]       a built-in KUnit suite's results (debugfs, or
 *                               RESULTS): pass when a test passed, none failed
 *   memfree NAME [MEMINFO]      note MemFree of /proc/meminfo (or MEMINFO) as NAME
 *   memdrop NAME FROM TO MAX_KB pass when MemFree fell by at most MAX_KB from
 *                               the note FROM to the note TO
 *   pgout NAME [VMSTAT]         note the kB allocated and not freed since boot,
 *                               sum(pgalloc_*) - pgfree of /proc/vmstat: pages
 *                               on per-CPU free lists count as freed, unlike
 *                               in MemFree
 *   memgrow NAME FROM TO MAX_KB pass when that grew by at most MAX_KB
 *
 * A final "dmesg" test fails if the kernel log holds a splat.  Everything a
 * test prints is passed through as KTAP diagnostics ("# ..."), so the host
 * can parse both the verdicts and the figures from one console stream.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINES	256
#define MAX_ARGS	64
#define KSFT_SKIP	4

static char *plan[MAX_LINES];
static int nr_plan;
static int nr_failed;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static void result(int nr, const char *name, int ok, const char *directive)
{
	printf("%s %d %s%s%s\n", ok ? "ok" : "not ok", nr, name,
	       directive ? " # " : "", directive ? directive : "");
	fflush(stdout);
	if (!ok)
		nr_failed++;
}

static void power_off(void)
{
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	/* Only reached if the platform cannot power off: the host times out. */
	for (;;)
		pause();
}

static void mount_fs(const char *src, const char *dir, const char *type)
{
	mkdir(dir, 0755);
	if (mount(src, dir, type, 0, NULL) && errno != EBUSY)
		diag("mount %s on %s: %s", type, dir, strerror(errno));
}

static void setup_console(void)
{
	int fd;

	mount_fs("devtmpfs", "/dev", "devtmpfs");
	fd = open("/dev/console", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static void setup_mounts(void)
{
	mount_fs("proc", "/proc", "proc");
	mount_fs("sysfs", "/sys", "sysfs");
	mount_fs("tmpfs", "/tmp", "tmpfs");
	mount_fs("tmpfs", "/dev/shm", "tmpfs");
	mount_fs("devpts", "/dev/pts", "devpts");
	mount_fs("hugetlbfs", "/dev/hugepages", "hugetlbfs");
	mount_fs("debugfs", "/sys/kernel/debug", "debugfs");
	mount_fs("tracefs", "/sys/kernel/tracing", "tracefs");
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -errno : 0;
}

static long read_long(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -1;
}

static void load_plan(const char *path)
{
	static char text[64 * 1024];
	char *line, *save;
	int fd;
	ssize_t n;

	fd = open(path, O_RDONLY);
	if (fd < 0) {
		diag("no plan %s: %s", path, strerror(errno));
		return;
	}
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return;
	text[n] = '\0';
	if (n == sizeof(text) - 1)
		diag("init: /plan is larger than %zu bytes; the rest is ignored",
		     sizeof(text) - 1);
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line || *line == '#')
			continue;
		if (nr_plan == MAX_LINES) {
			diag("init: /plan has more than %d steps; the rest is ignored",
			     MAX_LINES);
			break;
		}
		plan[nr_plan++] = line;
	}
}

static int split(char *line, char **argv, int max)
{
	int argc = 0;
	char *save, *tok;

	for (tok = strtok_r(line, " \t", &save); tok && argc < max - 1;
	     tok = strtok_r(NULL, " \t", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	return argc;
}

static void do_set(int nr, char **argv, int argc)
{
	char name[256];
	int err;

	snprintf(name, sizeof(name), "set:%s", argc > 1 ? argv[1] : "?");
	if (argc != 3) {
		diag("usage: set PATH VALUE");
		result(nr, name, 0, NULL);
		return;
	}
	err = write_file(argv[1], argv[2]);
	if (err)
		diag("write %s to %s: %s", argv[2], argv[1], strerror(-err));
	result(nr, name, !err, NULL);
}

/*
 * The address where a kernel function starts, or where the next symbol
 * starts (its end), from /proc/kallsyms: for fault-injection filters, which
 * take code addresses and should not depend on one build's System.map.
 */
static unsigned long symbol_address(const char *symbol, int end)
{
	unsigned long addr, found = 0, next = 0;
	char line[512], name[256], type;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx %c %255s", &addr, &type, name) == 3 &&
		    !strcmp(name, symbol)) {
			found = addr;
			break;
		}
	if (found && end) {
		rewind(f);
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "%lx %c %255s", &addr, &type, name) == 3 &&
			    addr > found && (!next || addr < next))
				next = addr;
		found = next;
	}
	fclose(f);
	return found;
}

static void do_setsym(int nr, char **argv, int argc)
{
	char name[256], value[32];
	unsigned long addr;
	int err;

	snprintf(name, sizeof(name), "setsym:%s", argc > 1 ? argv[1] : "?");
	if (argc != 4 || (strcmp(argv[2], "start") && strcmp(argv[2], "end"))) {
		diag("usage: setsym PATH start|end SYMBOL");
		result(nr, name, 0, NULL);
		return;
	}
	addr = symbol_address(argv[3], !strcmp(argv[2], "end"));
	if (!addr) {
		diag("setsym: no address for %s of %s in /proc/kallsyms", argv[2], argv[3]);
		result(nr, name, 0, NULL);
		return;
	}
	snprintf(value, sizeof(value), "%#lx", addr);
	err = write_file(argv[1], value);
	if (err)
		diag("write %s to %s: %s", value, argv[1], strerror(-err));
	result(nr, name, !err, NULL);
}

static void do_hugepages(int nr, char **argv, int argc)
{
	char name[64], path[128];
	long want, got;

	snprintf(name, sizeof(name), "hugepages:%skB=%s", argc > 1 ? argv[1] : "?",
		 argc > 2 ? argv[2] : "?");
	if (argc != 3) {
		diag("usage: hugepages SIZE_KB COUNT");
		result(nr, name, 0, NULL);
		return;
	}
	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%skB/nr_hugepages", argv[1]);
	want = strtol(argv[2], NULL, 10);
	write_file(path, argv[2]);
	got = read_long(path);
	diag("%s: wanted %ld, reserved %ld", path, want, got);
	result(nr, name, got == want, NULL);
}

/*
 * Print a file as diagnostics prefixed with NAME, one per line, handing each
 * line to EACH if given.  Returns 0 when the whole file was read.
 */
static int relay_file(const char *name, const char *path,
		      void (*each)(const char *line, void *arg), void *arg)
{
	char buf[4096], *p, *nl;
	size_t have = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0) {
		diag("open %s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
		have += n;
		buf[have] = '\0';
		for (p = buf; (nl = strchr(p, '\n')); p = nl + 1) {
			*nl = '\0';
			diag("%s: %s", name, p);
			if (each)
				each(p, arg);
		}
		have = strlen(p);
		memmove(buf, p, have);
		if (have == sizeof(buf) - 1) {
			buf[have] = '\0';
			diag("%s: %s", name, buf);
			if (each)
				each(buf, arg);
			have = 0;
		}
	}
	if (have) {
		buf[have] = '\0';
		diag("%s: %s", name, buf);
		if (each)
			each(buf, arg);
	}
	close(fd);
	return n == 0 ? 0 : -1;
}

static void do_cat(int nr, char **argv, int argc)
{
	if (argc != 3) {
		diag("usage: cat NAME PATH");
		result(nr, "cat:?", 0, NULL);
		return;
	}
	result(nr, argv[1], relay_file(argv[1], argv[2], NULL, NULL) == 0, NULL);
}

/* MemFree notes, for leak checks: what a run of VMs did not give back. */
#define MAX_NOTES	8
static struct {
	char name[32];
	long kb;
} notes[MAX_NOTES];
static int nr_notes;

static long meminfo_kb(const char *path, const char *key)
{
	char line[256];
	long kb = -1;
	size_t len = strlen(key);
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, len) && line[len] == ':') {
			kb = strtol(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

static long *note(const char *name, int create)
{
	int i;

	for (i = 0; i < nr_notes; i++)
		if (!strcmp(notes[i].name, name))
			return &notes[i].kb;
	if (!create || nr_notes == MAX_NOTES)
		return NULL;
	snprintf(notes[nr_notes].name, sizeof(notes[nr_notes].name), "%s", name);
	return &notes[nr_notes++].kb;
}

static void do_memfree(int nr, char **argv, int argc)
{
	long kb = -1, *slot = argc >= 2 ? note(argv[1], 1) : NULL;

	if (slot)
		kb = *slot = meminfo_kb(argc == 3 ? argv[2] : "/proc/meminfo", "MemFree");
	if (kb < 0)
		diag("usage: memfree NAME [MEMINFO], with a readable MemFree line");
	else
		diag("memfree %s: %ld kB", argv[1], kb);
	result(nr, argc >= 2 ? argv[1] : "memfree:?", kb >= 0, NULL);
}

static long vmstat_outstanding_kb(const char *path)
{
	char key[64];
	long value, pages = 0;
	int seen = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &value) == 2) {
		if (!strncmp(key, "pgalloc_", 8)) {
			pages += value;
			seen |= 1;
		} else if (!strcmp(key, "pgfree")) {
			pages -= value;
			seen |= 2;
		}
	}
	fclose(f);
	return seen == 3 ? pages * (sysconf(_SC_PAGESIZE) / 1024) : -1;
}

static void do_pgout(int nr, char **argv, int argc)
{
	long kb = -1, *slot = argc >= 2 ? note(argv[1], 1) : NULL;

	if (slot) {
		kb = vmstat_outstanding_kb(argc == 3 ? argv[2] : "/proc/vmstat");
		*slot = kb;
	}
	if (kb == -1)
		diag("usage: pgout NAME [VMSTAT], with pgalloc_* and pgfree lines");
	else
		diag("pgout %s: %ld kB", argv[1], kb);
	result(nr, argc >= 2 ? argv[1] : "pgout:?", kb != -1, NULL);
}

/* sign 1: how far the note fell (MemFree); -1: how far it grew (pgout). */
static void do_memdelta(int nr, char **argv, int argc, int sign, const char *what)
{
	long *from = argc == 5 ? note(argv[2], 0) : NULL;
	long *to = argc == 5 ? note(argv[3], 0) : NULL;
	long max, delta;

	if (!from || !to) {
		diag("usage: %s NAME FROM TO MAX_KB, after noting FROM and TO", argv[0]);
		result(nr, argc >= 2 ? argv[1] : "memdelta:?", 0, NULL);
		return;
	}
	max = strtol(argv[4], NULL, 10);
	delta = sign * (*from - *to);
	diag("%s_kb: %ld", what, delta);
	diag("%s_max_kb: %ld", what, max);
	result(nr, argv[1], delta <= max, NULL);
}

struct kunit_tally {
	int ok, not_ok;
};

static void tally_kunit(const char *line, void *arg)
{
	struct kunit_tally *t = arg;

	line += strspn(line, " \t");
	if (!strncmp(line, "not ok ", 7))
		t->not_ok++;
	else if (!strncmp(line, "ok ", 3))
		t->ok++;
}

/*
 * A KUnit suite built into the kernel ran at boot; its KTAP is in debugfs.
 * It passes when a test passed and none failed.
 */
static void do_kunit(int nr, char **argv, int argc)
{
	struct kunit_tally t = { 0, 0 };
	char path[256];

	if (argc != 2 && argc != 3) {
		diag("usage: kunit SUITE [RESULTS]");
		result(nr, "kunit:?", 0, NULL);
		return;
	}
	if (argc == 3)
		snprintf(path, sizeof(path), "%s", argv[2]);
	else
		snprintf(path, sizeof(path), "/sys/kernel/debug/kunit/%s/results", argv[1]);
	if (relay_file(argv[1], path, tally_kunit, &t))
		diag("kunit %s: no results (CONFIG_KUNIT_DEBUGFS and the suite built in?)",
		     argv[1]);
	else
		diag("kunit %s: %d ok, %d not ok", argv[1], t.ok, t.not_ok);
	result(nr, argv[1], t.ok > 0 && !t.not_ok, NULL);
}

/* Copy the child's output to the console a line at a time, as diagnostics. */
static void relay(char *buf, size_t *have, int flush)
{
	char *p = buf, *nl;

	buf[*have] = '\0';
	while ((nl = strchr(p, '\n'))) {
		*nl = '\0';
		if (nl > p && nl[-1] == '\r')
			nl[-1] = '\0';
		diag("%s", p);
		p = nl + 1;
	}
	*have = strlen(p);
	memmove(buf, p, *have);
	if (*have && (flush || *have >= 4000)) {
		buf[*have] = '\0';
		diag("%s", buf);
		*have = 0;
	}
}

/*
 * Tests write to a pty, not a pipe: stdio then line-buffers, so a test that
 * is killed on its timeout has already shown how far it got.
 */
static int open_pty(int *slave)
{
	struct termios tio;
	int master;

	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0)
		return -1;
	if (grantpt(master) || unlockpt(master)) {
		close(master);
		return -1;
	}
	*slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	if (*slave < 0) {
		close(master);
		return -1;
	}
	tcgetattr(*slave, &tio);
	cfmakeraw(&tio);
	tcsetattr(*slave, TCSANOW, &tio);
	return master;
}

/*
 * Relay the test's output until it exits or its deadline passes.  The pty
 * alone cannot tell: a test may close its stdio and go on, or leave a child
 * behind that keeps the pty open after the test itself is gone.
 */
static int wait_test(pid_t pid, int master, double deadline, int *status)
{
	char buf[4097];
	size_t have = 0;
	double drain_until = 0;
	struct pollfd pfd = { .fd = master, .events = POLLIN };
	int exited = 0, pty_open = 1;

	for (;;) {
		double t = now(), limit = exited ? drain_until : deadline;
		ssize_t i, n;
		int ms;

		if (t >= limit)
			break;
		if (!exited && waitpid(pid, status, WNOHANG) == pid) {
			exited = 1;
			if (!pty_open)
				break;
			/* Give what is still in the pty a moment to come out. */
			drain_until = t + 0.5;
			continue;
		}
		ms = (int)((limit - t) * 1000) + 1;
		if (!pty_open) {
			usleep((ms < 100 ? ms : 100) * 1000);
			continue;
		}
		if (poll(&pfd, 1, ms < 100 ? ms : 100) <= 0)
			continue;
		n = read(master, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0) {
			/* EIO: every writer is gone. */
			pty_open = 0;
			if (exited)
				break;
			continue;
		}
		for (i = 0; i < n; i++)
			if (!buf[have + i])
				buf[have + i] = '?';
		have += n;
		relay(buf, &have, 0);
	}
	relay(buf, &have, 1);
	return exited;
}

static void do_run(int nr, char **argv, int argc)
{
	int master, slave, status = 0, exited;
	double start;
	pid_t pid;

	if (argc < 4) {
		diag("usage: run NAME TIMEOUT_S ARGV...");
		result(nr, argc > 1 ? argv[1] : "run:?", 0, NULL);
		return;
	}
	master = open_pty(&slave);
	if (master < 0) {
		diag("pty: %s", strerror(errno));
		result(nr, argv[1], 0, NULL);
		return;
	}
	start = now();
	pid = fork();
	if (pid < 0) {
		diag("fork: %s", strerror(errno));
		close(master);
		close(slave);
		result(nr, argv[1], 0, NULL);
		return;
	}
	if (pid == 0) {
		setsid();
		ioctl(slave, TIOCSCTTY, 0);
		dup2(slave, 0);
		dup2(slave, 1);
		dup2(slave, 2);
		close(master);
		if (slave > 2)
			close(slave);
		execv(argv[3], argv + 3);
		fprintf(stderr, "exec %s: %s\n", argv[3], strerror(errno));
		_exit(127);
	}
	close(slave);
	/* The pid lets the host tell which test a splat's thread belonged to. */
	diag("run %s: %s (pid %d)", argv[1], argv[3], pid);

	exited = wait_test(pid, master, start + strtod(argv[2], NULL), &status);
	/* Whatever the test left behind in its session goes with it. */
	kill(-pid, SIGKILL);
	if (!exited)
		waitpid(pid, &status, 0);
	close(master);
	while (waitpid(-pid, NULL, 0) > 0)
		;

	diag("duration: %s %.3f s", argv[1], now() - start);
	if (!exited) {
		diag("%s: TIMEOUT after %s s", argv[1], argv[2]);
		result(nr, argv[1], 0, NULL);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == KSFT_SKIP) {
		result(nr, argv[1], 1, "SKIP");
	} else if (WIFEXITED(status)) {
		if (WEXITSTATUS(status))
			diag("%s: exit status %d", argv[1], WEXITSTATUS(status));
		result(nr, argv[1], WEXITSTATUS(status) == 0, NULL);
	} else {
		diag("%s: killed by signal %d", argv[1], WTERMSIG(status));
		result(nr, argv[1], 0, NULL);
	}
}

/*
 * Lines that mean the kernel did something wrong, whatever the tests said:
 * one pattern a line in /splats, which the host writes from its own list
 * (wb/splats.py), so that both judge a log the same way.
 */
#define MAX_SPLATS	64
static char *splats[MAX_SPLATS];
static int nr_splats;

static int load_splats(const char *path)
{
	char line[256];
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (nr_splats < MAX_SPLATS && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0])
			splats[nr_splats++] = strdup(line);
	}
	fclose(f);
	return nr_splats ? 0 : -1;
}

static int is_splat(const char *msg)
{
	int i;

	for (i = 0; i < nr_splats; i++)
		if (strstr(msg, splats[i]))
			return 1;
	return 0;
}

static void check_dmesg(int nr)
{
	char rec[8192];
	int fd, found = 0, context = 0;
	ssize_t n;

	if (load_splats("/splats")) {
		diag("dmesg: no patterns in /splats, so no splat could be found");
		result(nr, "dmesg", 0, NULL);
		return;
	}
	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (fd < 0) {
		diag("open /dev/kmsg: %s", strerror(errno));
		result(nr, "dmesg", 0, NULL);
		return;
	}
	for (;;) {
		char *msg;

		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* records overwritten: keep reading */
		if (n < 0 && errno != EAGAIN) {
			diag("dmesg: read /dev/kmsg: %s", strerror(errno));
			found++;
		}
		if (n <= 0)
			break;
		rec[n] = '\0';
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		msg[strcspn(msg, "\n")] = '\0';
		if (is_splat(msg)) {
			found++;
			context = 30;
		}
		if (context) {
			diag("dmesg: %s", msg);
			context--;
		}
	}
	close(fd);
	if (found)
		diag("dmesg: %d line(s) look like a kernel splat", found);
	result(nr, "dmesg", !found, NULL);
}

/*
 * As PID 1 this is the guest's init.  Run as "init PLAN" on a host, it only
 * carries out PLAN, so that the workbench's tests can exercise it natively.
 */
int main(int argc, char **argv)
{
	int guest = getpid() == 1;
	double start;
	int i;

	if (guest) {
		setup_console();
		setup_mounts();
		/*
		 * Boot messages went to the console; from here on the kernel log
		 * is checked by the dmesg test instead, so that it cannot tear
		 * KTAP lines.  A panic still reaches the console.
		 */
		write_file("/proc/sys/kernel/printk", "1");
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	load_plan(guest || argc < 2 ? "/plan" : argv[1]);

	start = now();
	printf("KTAP version 1\n1..%d\n", nr_plan + guest);
	for (i = 0; i < nr_plan; i++) {
		char *argv[MAX_ARGS];
		int argc = split(plan[i], argv, MAX_ARGS);

		if (!strcmp(argv[0], "set"))
			do_set(i + 1, argv, argc);
		else if (!strcmp(argv[0], "setsym"))
			do_setsym(i + 1, argv, argc);
		else if (!strcmp(argv[0], "hugepages"))
			do_hugepages(i + 1, argv, argc);
		else if (!strcmp(argv[0], "run"))
			do_run(i + 1, argv, argc);
		else if (!strcmp(argv[0], "cat"))
			do_cat(i + 1, argv, argc);
		else if (!strcmp(argv[0], "kunit"))
			do_kunit(i + 1, argv, argc);
		else if (!strcmp(argv[0], "memfree"))
			do_memfree(i + 1, argv, argc);
		else if (!strcmp(argv[0], "memdrop"))
			do_memdelta(i + 1, argv, argc, 1, "memfree_drop");
		else if (!strcmp(argv[0], "pgout"))
			do_pgout(i + 1, argv, argc);
		else if (!strcmp(argv[0], "memgrow"))
			do_memdelta(i + 1, argv, argc, -1, "pgout_growth");
		else {
			diag("unknown plan directive '%s'", argv[0]);
			result(i + 1, argv[0], 0, NULL);
		}
	}
	if (guest)
		check_dmesg(nr_plan + 1);
	/* The host looks for this exact line to know the plan ran to its end. */
	diag("init: done, %d failed, %.1f s", nr_failed, now() - start);
	if (guest)
		power_off();
	return nr_failed ? 1 : 0;
}
