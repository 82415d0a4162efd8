``zaqar-listen --check`` checks the options, the handler, the credentials, Zaqar and each queue, prints one line per check and exits 0 or with the failure's status, without consuming anything.
