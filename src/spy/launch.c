/*
 * launch.c - starting the program to profile (`ember spy record -- CMD`).
 *
 * The child stays in our process group, so Ctrl-C in the terminal reaches
 * both, as it would reach the program run on its own. Whether exec worked
 * comes back through a close-on-exec pipe: it closes without a word when
 * exec succeeds, and carries errno when it fails.
 */
#include "spy/spy_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

int ember_spy_launch(char *const *argv, pid_t *pid, ember_err_t *err) {
  int fds[2];
  if (!argv || !argv[0]) return ember_err_set(err, EMBER_EINVAL, "no command to run");
  if (pipe2(fds, O_CLOEXEC))
    return ember_err_set(err, EMBER_EIO, "cannot start %s: %s", argv[0], strerror(errno));
  pid_t child = fork();
  if (child < 0) {
    close(fds[0]);
    close(fds[1]);
    return ember_err_set(err, EMBER_EIO, "cannot start %s: %s", argv[0], strerror(errno));
  }
  if (child == 0) {
    close(fds[0]);
    execvp(argv[0], argv);
    int e = errno;
    ssize_t k = write(fds[1], &e, sizeof e);
    (void)k;
    _exit(127);
  }
  close(fds[1]);
  int e = 0;
  ssize_t k;
  do k = read(fds[0], &e, sizeof e);
  while (k < 0 && errno == EINTR);
  close(fds[0]);
  if (k == (ssize_t)sizeof e) {
    waitpid(child, NULL, 0);
    return ember_err_set(err, EMBER_EINVAL, "cannot run %s: %s", argv[0], strerror(e));
  }
  *pid = child;
  return EMBER_OK;
}
