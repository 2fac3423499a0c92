from harden.cli.main import main

main()
