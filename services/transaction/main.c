/* main.c - transaction-service entry point. */
#include "daemon.h"

extern const struct service_def txn_service;

int main(int argc, char **argv)
{
    return daemon_run(&txn_service, argc, argv);
}
