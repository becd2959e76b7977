package mongostore

import (
	"context"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// collection is a driver collection whose writes take the store's write
// lock when the server needs it; reads pass through.
//
// MongoDB applies every single-document write atomically: a conditional
// update re-checks its filter on the document it changes. FerretDB 1.x
// does not: its update and findAndModify read the matching documents, then
// replace them by _id without re-checking the filter, so two concurrent
// conditional updates of one document can both succeed (a job claimed
// twice, a fenced write by a worker that just lost its lease). Inserts
// against a unique index and deletes are atomic there too. On such a
// server the store serialises its own writes, which makes them atomic
// among the goroutines of one process, not among processes: run a single
// intake process per FerretDB database. Open detects FerretDB and logs it.
type collection struct {
	*mongo.Collection
	mu *sync.Mutex // nil: the server's writes are atomic
}

// lock takes the write lock, when there is one, and returns its release.
func (c *collection) lock() func() {
	if c.mu == nil {
		return func() {}
	}
	c.mu.Lock()
	return c.mu.Unlock
}

// UpdateOne is mongo.Collection.UpdateOne under the write lock.
func (c *collection) UpdateOne(ctx context.Context, filter, update any,
	opts ...options.Lister[options.UpdateOneOptions]) (*mongo.UpdateResult, error) {
	defer c.lock()()
	return c.Collection.UpdateOne(ctx, filter, update, opts...)
}

// UpdateMany is mongo.Collection.UpdateMany under the write lock.
func (c *collection) UpdateMany(ctx context.Context, filter, update any,
	opts ...options.Lister[options.UpdateManyOptions]) (*mongo.UpdateResult, error) {
	defer c.lock()()
	return c.Collection.UpdateMany(ctx, filter, update, opts...)
}

// FindOneAndUpdate is mongo.Collection.FindOneAndUpdate under the write
// lock. The result is read before the lock is released.
func (c *collection) FindOneAndUpdate(ctx context.Context, filter, update any,
	opts ...options.Lister[options.FindOneAndUpdateOptions]) *mongo.SingleResult {
	defer c.lock()()
	return c.Collection.FindOneAndUpdate(ctx, filter, update, opts...)
}

// InsertOne is mongo.Collection.InsertOne under the write lock.
func (c *collection) InsertOne(ctx context.Context, document any,
	opts ...options.Lister[options.InsertOneOptions]) (*mongo.InsertOneResult, error) {
	defer c.lock()()
	return c.Collection.InsertOne(ctx, document, opts...)
}

// InsertMany is mongo.Collection.InsertMany under the write lock.
func (c *collection) InsertMany(ctx context.Context, documents any,
	opts ...options.Lister[options.InsertManyOptions]) (*mongo.InsertManyResult, error) {
	defer c.lock()()
	return c.Collection.InsertMany(ctx, documents, opts...)
}

// DeleteOne is mongo.Collection.DeleteOne under the write lock.
func (c *collection) DeleteOne(ctx context.Context, filter any,
	opts ...options.Lister[options.DeleteOneOptions]) (*mongo.DeleteResult, error) {
	defer c.lock()()
	return c.Collection.DeleteOne(ctx, filter, opts...)
}

// DeleteMany is mongo.Collection.DeleteMany under the write lock.
func (c *collection) DeleteMany(ctx context.Context, filter any,
	opts ...options.Lister[options.DeleteManyOptions]) (*mongo.DeleteResult, error) {
	defer c.lock()()
	return c.Collection.DeleteMany(ctx, filter, opts...)
}

// ferretDBVersion returns the FerretDB version the server reports, or ""
// for MongoDB.
func ferretDBVersion(ctx context.Context, db *mongo.Database) (string, error) {
	var info struct {
		FerretDBVersion string `bson:"ferretdbVersion"`
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return "", err
	}
	return info.FerretDBVersion, nil
}
