package azureblob

import "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

// ContainerClient exposes the SDK client of b's container to the tests,
// which inspect blobs (block lists) and delete their containers with it.
func ContainerClient(b *Bucket) *container.Client { return b.container }
