"""The `charlstm` command line: local engine commands, the service client and admin commands."""
