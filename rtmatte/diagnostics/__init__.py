"""What works on this machine: ``rtmatte doctor``."""
