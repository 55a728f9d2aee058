/* oldkernel: runs a command as if on Linux 3.10 (RHEL 7's kernel), as far as system calls go. A seccomp
 * filter makes every x86_64 system call that 3.10 did not have (numbers 314 and up: sched_setattr in
 * 3.14 onwards, getrandom, memfd_create, statx, rseq, clone3, close_range, faccessat2, epoll_pwait2,
 * ...) fail with ENOSYS, as an old kernel answers, and fcntl's open file description locks (3.15) fail
 * with EINVAL. The portable agent must still work: packaging/tests/portable-test.sh runs the
 * integration suite under it (ONSIDE_AGENT_WRAPPER).
 *   cc -O2 -o oldkernel packaging/tests/oldkernel.c && ./oldkernel CMD [ARG...]
 * uname(2) reports an old kernel too (personality UNAME26: "2.6.x"), because OpenSSL decides by the
 * kernel version whether a failing getrandom() may be replaced by /dev/urandom (only before 4.8, as on
 * a real 3.10 kernel). Flags added to older system calls after 3.10 are not emulated, except the fcntl
 * ones above. */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FIRST_AFTER_3_10 314 /* __NR_sched_setattr, Linux 3.14 */
#define F_OFD_GETLK_ 36
#define F_OFD_SETLKW_ 38

int main(int argc, char **argv)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, FIRST_AFTER_3_10, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fcntl, 0, 4),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, F_OFD_GETLK_, 0, 2),
		BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, F_OFD_SETLKW_, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	if (argc < 2) {
		fprintf(stderr, "usage: %s COMMAND [ARG...]\n", argv[0]);
		return 2;
	}
	if (personality(PER_LINUX | UNAME26) < 0) {
		fprintf(stderr, "oldkernel: personality: %s\n", strerror(errno));
		return 1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		fprintf(stderr, "oldkernel: seccomp: %s\n", strerror(errno));
		return 1;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "oldkernel: %s: %s\n", argv[1], strerror(errno));
	return 127;
}
