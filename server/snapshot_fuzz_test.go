package server

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/orchd/orch/api"
)

// A snapshot read from disk or a backup file may be damaged: reading one must report
// the damage, never panic, and never produce a half-read store.
func FuzzReadSnapshot(f *testing.F) {
	tf := newTestFSM(f)
	tf.create(api.ConfigMapKind, mockConfigMap("a"))
	tf.create(api.PodKind, mockPod("p", ""))
	var good bytes.Buffer
	snap, _ := tf.fsm.Snapshot()
	if err := writeSnapshot(&good, snap.(*fsmSnapshot).txn); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add([]byte{})
	f.Add([]byte{snapshotObjectRecord, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{snapshotIndexRecord, 1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		db, _, err := readSnapshot(bytes.NewReader(b))
		if err != nil {
			if db != nil {
				t.Fatal("an error came with a store")
			}
			return
		}
		// Whatever decoded is a store of well-formed objects.
		txn := db.Txn(false)
		for _, k := range api.Kinds {
			for _, o := range list(txn, k, "", "") {
				if _, err := proto.Marshal(o); err != nil {
					t.Fatalf("%s decoded into an object that does not encode: %v", k.Name, err)
				}
			}
		}
	})
}
