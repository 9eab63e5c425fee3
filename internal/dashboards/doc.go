// Package dashboards installs saved objects (index patterns, saved searches,
// visualizations, dashboards) into OpenSearch Dashboards through its saved
// objects HTTP API, idempotently: it reads what is installed with
// _bulk_get, compares each object's shipped attributes and references, and
// imports only the objects that are missing or differ, with
// _import?overwrite=true. A second run therefore changes nothing and says
// so, while an object edited by hand in Dashboards is put back (the shipped
// objects are Vigil's; copy one to customise it).
//
// Attributes Dashboards adds on its own (an index pattern's refreshed field
// list, a dashboard's saved time once edited) are not compared: only the
// keys the shipped object sets are.
//
// Its one caller is `vigil setup` (cmd/vigil/setup.go), yet it stays a
// package of its own rather than moving into cmd/vigil: configs/dashboards'
// test loads the shipped objects with Load to prove they parse, and a main
// package cannot be imported. Nothing else may depend on it.
package dashboards
