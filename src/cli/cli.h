/*
 * cli.h - what the commands of the ember binary share: one function per
 * command, the parsers of sizes and counts their options take, and the
 * one-line refusal every bad option gets.
 *
 *   serve.c   ember serve: the option table, its environment variables
 *   export.c  ember export
 *   backup.c  ember backup and ember restore
 *   spy.c     ember spy record, top and dump
 *   push.c    ember push (a profile file to /ingest)
 *   diff.c    ember diff (two profiles compared; the CI regression gate,
 *             whose exit codes are its own: 0 pass, 1 regression, 2 no
 *             comparison)
 *
 * Exit codes, for every command: 0 success, 1 a runtime failure (the disk,
 * the network, a server already on the directory), 2 a usage error (an
 * unknown option, a bad value, a missing argument) or bad input (a request
 * the server refused as bad). `ember diff` is a gate: its 1 is a
 * regression, and everything that kept it from comparing is 2.
 */
#ifndef EMBER_CLI_H
#define EMBER_CLI_H

#include <stddef.h>
#include <stdint.h>

#define EMBER_VERSION "0.1.0"

/* The end of every command's --help: the exit codes above, in one place. */
#define EMBER_CLI_EXIT_CODES                                                           \
  "\n"                                                                                 \
  "Exit status: 0 success; 1 a runtime failure (the disk, the network, the\n"          \
  "server); 2 a usage error (an unknown option, a bad value, a missing argument)\n"    \
  "or bad input (a file that cannot be read, a request the server refused).\n"

/* Each takes the arguments after the command's name (argv[0] is the
 * command) and returns the process's exit code. */
int ember_cli_serve(int argc, char **argv);
int ember_cli_export(int argc, char **argv);
int ember_cli_backup(int argc, char **argv);
int ember_cli_restore(int argc, char **argv);
int ember_cli_spy(int argc, char **argv);
int ember_cli_push(int argc, char **argv);
int ember_cli_diff(int argc, char **argv);

/* Parses "32MiB", "10MB", "512k", "1048576" into bytes (> 0). 0 or -1. */
int ember_cli_parse_size(const char *s, size_t *out /* OUT */);
/* Parses a decimal count from 1 to max. 0 or -1. */
int ember_cli_parse_count(const char *s, unsigned max, unsigned *out /* OUT */);

/* Prints "ember CMD: WHAT 'ARG'; HINT" on stderr and returns 2. */
int ember_cli_fail(const char *cmd, const char *what, const char *arg, const char *hint);

#endif
