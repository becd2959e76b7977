package mongostore

// SetRemovedChunk sets how many documents of the previous job each round
// of d's removed scan reads, so that tests cross chunk boundaries with few
// documents.
func SetRemovedChunk(d *Driver, n int) { d.removedChunk = n }
