package postgres

// DeleteHosts is how many hosts retention deletes the rows of at a time
// (deleteHosts): the tests that need two chunks of hosts add one more.
const DeleteHosts = deleteHosts
