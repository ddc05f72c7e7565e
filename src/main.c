/*
 * main.c - the ember command line. Only wiring lives here: which command
 * runs; each command's options are in src/cli/.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
    "Usage: ember <command> [options]\n"
    "\n"
    "Ember is a continuous profiling server: agents push stack samples over\n"
    "HTTP (Pyroscope's API), Ember stores them and serves flame graphs, diffs\n"
    "and a web UI.\n"
    "\n"
    "Commands:\n"
    "  serve     run the server (default 127.0.0.1:4040, data in ./data); every\n"
    "            option also from the environment, e.g. EMBER_LISTEN\n"
    "  export    write a flame graph from a running server to a file (svg, html,\n"
    "            json or collapsed)\n"
    "  backup    copy the database of a running (or stopped) server to a file\n"
    "  restore   make a backup the database of a data directory\n"
    "  spy       profile a running Python program from outside: record (push to\n"
    "            a server, or write a flame graph), top, dump\n"
    "  push      push a profile file (folded, pprof, JFR...) to a server\n"
    "  diff      compare two profiles, from files or a server; with\n"
    "            --fail-above, a regression gate for CI (exit 1 on a regression)\n"
    "  version   print the version\n"
    "\n"
    "Run `ember <command> --help` for the options of a command.\n"
    EMBER_CLI_EXIT_CODES
    "`ember diff` is a gate: its 1 is a regression, its 2 anything that kept it\n"
    "from comparing.\n";

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
} commands[] = {
    {"serve", ember_cli_serve},
    {"export", ember_cli_export},
    {"backup", ember_cli_backup},
    {"restore", ember_cli_restore},
    {"spy", ember_cli_spy},
    {"push", ember_cli_push},
    {"diff", ember_cli_diff},
};

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    fputs(usage, stdout);
    return 0;
  }
  if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
    printf("ember %s\n", EMBER_VERSION);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(cmd, commands[i].name)) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "ember: unknown command '%s'; run `ember --help` for the list\n", cmd);
  return 2;
}
