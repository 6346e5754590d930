from hgrec.cli import main

main()
