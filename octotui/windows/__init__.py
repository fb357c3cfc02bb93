"""What Windows needs from us: quoting, Octopus.Server.exe command lines and their output, scripts."""
