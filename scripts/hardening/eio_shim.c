// LD_PRELOAD shim that simulates I/O errors for crash-safety tests (scripts/hardening/io_fault_test.py).
//
//   GRAFT_EIO_WRITE_AFTER=N   write/pwrite/writev/copy_file_range on files (fd > 2) fail with EIO once N bytes have
//                             been written
//   GRAFT_EIO_FSYNC=1         fsync/fdatasync fail with EIO
//   GRAFT_EIO_RENAME=1        rename fails with EIO
//
// Build: cc -shared -fPIC -O2 -o eio_shim.so eio_shim.c -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long long budget = -2;  // -2: not read yet, -1: unlimited

static int over(size_t n) {
  if (budget == -2) {
    const char *s = getenv("GRAFT_EIO_WRITE_AFTER");
    budget = s ? atoll(s) : -1;
  }
  if (budget < 0) return 0;
  if ((long long)n > budget) { budget = 0; return 1; }
  budget -= (long long)n;
  return 0;
}

ssize_t write(int fd, const void *buf, size_t n) {
  static ssize_t (*real)(int, const void *, size_t);
  if (!real) real = dlsym(RTLD_NEXT, "write");
  if (fd > 2 && over(n)) { errno = EIO; return -1; }
  return real(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
  static ssize_t (*real)(int, const void *, size_t, off_t);
  if (!real) real = dlsym(RTLD_NEXT, "pwrite");
  if (fd > 2 && over(n)) { errno = EIO; return -1; }
  return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
  static ssize_t (*real)(int, const void *, size_t, off_t);
  if (!real) real = dlsym(RTLD_NEXT, "pwrite64");
  if (fd > 2 && over(n)) { errno = EIO; return -1; }
  return real(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
  static ssize_t (*real)(int, const struct iovec *, int);
  if (!real) real = dlsym(RTLD_NEXT, "writev");
  size_t n = 0;
  for (int i = 0; i < cnt; i++) n += iov[i].iov_len;
  if (fd > 2 && over(n)) { errno = EIO; return -1; }
  return real(fd, iov, cnt);
}

// Graft copies unchanged tensors of mapped files with copy_file_range (found with dlsym, so this one is used).
ssize_t copy_file_range(int in, loff_t *in_off, int out, loff_t *out_off, size_t n, unsigned flags) {
  static ssize_t (*real)(int, loff_t *, int, loff_t *, size_t, unsigned);
  if (!real) real = dlsym(RTLD_NEXT, "copy_file_range");
  if (out > 2 && over(n)) { errno = EIO; return -1; }
  return real(in, in_off, out, out_off, n, flags);
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = dlsym(RTLD_NEXT, "fsync");
  const char *s = getenv("GRAFT_EIO_FSYNC");
  if (s && *s == '1') { errno = EIO; return -1; }
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
  const char *s = getenv("GRAFT_EIO_FSYNC");
  if (s && *s == '1') { errno = EIO; return -1; }
  return real(fd);
}

int rename(const char *from, const char *to) {
  static int (*real)(const char *, const char *);
  if (!real) real = dlsym(RTLD_NEXT, "rename");
  const char *s = getenv("GRAFT_EIO_RENAME");
  if (s && *s == '1') { errno = EIO; return -1; }
  return real(from, to);
}
