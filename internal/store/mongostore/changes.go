package mongostore

import (
	"context"
	"errors"

	"github.com/intake-dev/intake"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Change detection reads documents by (job_id, identity), served by the
// documents_job_identity index. A job's last committed document may not be
// materialised into documents yet (see the package documentation): the
// readers here materialise it first, or, for FindDocument, read it from
// the job.

// removedChunk is how many of the previous job's documents one round of
// the removed scan reads, and so how many identities its $in lists: a
// Driver's removedChunk, which tests lower.
const removedChunk = 500

// FindDocument returns the document of a job with the identity and the
// highest seq, nil when there is none. The job's last_doc is read before
// documents, as in ListDocuments: documents then hold every seq below it.
func (s *Driver) FindDocument(ctx context.Context, jobID, identity string) (*intake.Document, error) {
	last, exists, err := s.lastDoc(ctx, jobID)
	if err != nil || !exists {
		return nil, err
	}
	var d docDoc
	err = s.docs.FindOne(ctx, bson.D{{Key: "job_id", Value: jobID}, {Key: "identity", Value: identity}},
		options.FindOne().SetSort(bson.D{{Key: "seq", Value: -1}})).Decode(&d)
	found := err == nil
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return nil, err
	}
	if last != nil && last.Identity == identity && (!found || last.Seq > d.Seq) {
		s.rollForwardDoc(ctx, last)
		return last.document(), nil
	}
	if !found {
		return nil, nil
	}
	return d.document(), nil
}

// ChangeCounts counts a job's documents by change (one $group) and the
// documents of previousJobID whose identity the job did not collect.
func (s *Driver) ChangeCounts(ctx context.Context, jobID, previousJobID string) (*intake.ChangeCounts, error) {
	if err := s.materialiseLast(ctx, jobID); err != nil {
		return nil, err
	}
	cur, err := s.docs.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$match", Value: bson.D{
			{Key: "job_id", Value: jobID},
			{Key: "change", Value: bson.D{{Key: "$exists", Value: true}}},
		}}},
		{{Key: "$group", Value: bson.D{
			{Key: "_id", Value: "$change"},
			{Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}},
		}}},
	})
	if err != nil {
		return nil, err
	}
	var groups []struct {
		Change string `bson:"_id"`
		N      int64  `bson:"n"`
	}
	if err := cur.All(ctx, &groups); err != nil {
		return nil, err
	}
	c := &intake.ChangeCounts{}
	for _, g := range groups {
		switch intake.Change(g.Change) {
		case intake.ChangeNew:
			c.New = int(g.N)
		case intake.ChangeChanged:
			c.Changed = int(g.N)
		case intake.ChangeUnchanged:
			c.Unchanged = int(g.N)
		}
	}
	if previousJobID == "" {
		return c, nil
	}
	removed, err := s.removed(ctx, jobID, previousJobID, 0, -1,
		bson.D{{Key: "_id", Value: 0}, {Key: "seq", Value: 1}, {Key: "identity", Value: 1}})
	if err != nil {
		return nil, err
	}
	c.Removed = len(removed)
	return c, nil
}

// ListRemoved returns up to limit documents of previousJobID, with seq
// above after, in seq order, whose identity no document of the job has.
func (s *Driver) ListRemoved(ctx context.Context, jobID, previousJobID string, after, limit int) ([]*intake.Document, error) {
	removed, err := s.removed(ctx, jobID, previousJobID, after, limit, nil)
	if err != nil {
		return nil, err
	}
	docs := make([]*intake.Document, len(removed))
	for i, d := range removed {
		docs[i] = d.document()
	}
	return docs, nil
}

// removed returns up to limit (no bound when negative) documents of
// previousJobID with an identity and seq above after, in seq order, whose
// identity no document of jobID has; projection (all fields when nil)
// must include seq and identity. It reads the previous job's documents a
// chunk at a time and asks which of the chunk's identities the job has, so
// that no query grows with the jobs' sizes.
func (s *Driver) removed(ctx context.Context, jobID, previousJobID string, after, limit int, projection bson.D) ([]*docDoc, error) {
	for _, id := range []string{jobID, previousJobID} {
		if err := s.materialiseLast(ctx, id); err != nil {
			return nil, err
		}
	}
	var out []*docDoc
	for limit < 0 || len(out) < limit {
		opts := options.Find().SetSort(bson.D{{Key: "seq", Value: 1}}).SetLimit(int64(s.removedChunk))
		if projection != nil {
			opts.SetProjection(projection)
		}
		var chunk []*docDoc
		if err := s.findAllOpts(ctx, s.docs, bson.D{
			{Key: "job_id", Value: previousJobID},
			{Key: "seq", Value: bson.D{{Key: "$gt", Value: int64(after)}}},
			{Key: "identity", Value: bson.D{{Key: "$exists", Value: true}}},
		}, opts, &chunk); err != nil {
			return nil, err
		}
		if len(chunk) == 0 {
			break
		}
		have, err := s.identities(ctx, jobID, chunk)
		if err != nil {
			return nil, err
		}
		for _, d := range chunk {
			if !have[d.Identity] && (limit < 0 || len(out) < limit) {
				out = append(out, d)
			}
		}
		if len(chunk) < s.removedChunk {
			break
		}
		after = int(chunk[len(chunk)-1].Seq)
	}
	return out, nil
}

// identities returns which of the identities of docs some document of
// jobID has.
func (s *Driver) identities(ctx context.Context, jobID string, docs []*docDoc) (map[string]bool, error) {
	in := make([]string, len(docs))
	for i, d := range docs {
		in[i] = d.Identity
	}
	var found []string
	err := s.docs.Distinct(ctx, "identity", bson.D{
		{Key: "job_id", Value: jobID},
		{Key: "identity", Value: bson.D{{Key: "$in", Value: in}}},
	}).Decode(&found)
	if err != nil {
		return nil, err
	}
	have := make(map[string]bool, len(found))
	for _, id := range found {
		have[id] = true
	}
	return have, nil
}

// materialiseLast materialises a job's last committed document, so that
// documents hold all of the job's documents for a query that aggregates
// them. A job that does not exist, or has no document, has nothing to do.
func (s *Driver) materialiseLast(ctx context.Context, jobID string) error {
	last, _, err := s.lastDoc(ctx, jobID)
	if err != nil || last == nil {
		return err
	}
	return s.materialise(ctx, last)
}

// findAllOpts decodes every document that filter matches, with opts, into
// out.
func (s *Driver) findAllOpts(ctx context.Context, c *collection, filter bson.D, opts *options.FindOptionsBuilder, out any) error {
	cur, err := c.Find(ctx, filter, opts)
	if err != nil {
		return err
	}
	return cur.All(ctx, out)
}
