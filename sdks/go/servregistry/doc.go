// Service-registry entries (namespaces, services, endpoint sets) in etcd, AWS Cloud Map, Google Service Directory or SQLite, with ownership safety: nothing another owner wrote is ever changed or deleted.
package servregistry
