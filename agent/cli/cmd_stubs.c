/* cmd_stubs.c — placeholder bodies replaced by the real commands in this series. */
#include "cli/cli.h"
#include "base/log.h"
int cmd_keygen(int argc, char **argv) { log_error("not built yet"); return 1; }
int cmd_bundle(int argc, char **argv) { log_error("not built yet"); return 1; }
int cmd_import(int argc, char **argv) { log_error("not built yet"); return 1; }
int cmd_status(int argc, char **argv) { log_error("not built yet"); return 1; }
