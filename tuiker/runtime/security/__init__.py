"""What confines a container: capabilities, seccomp, the monitor's sealed binary."""
