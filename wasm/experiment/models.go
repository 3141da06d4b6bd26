package experiment

import (
	"fmt"
	"strings"
)

// ModelSpec is one concurrency model's row in ModelTable: the one
// definition of the model's name and of what the CLI, the API, the page
// and the view say and draw of it. Its behaviour is its policy, a file of
// its own in models/ (models.PolicyOf), which the engine finds by Name.
// Adding a model is its policy file and its row here.
type ModelSpec struct {
	// Name is the model's name: Experiment.Model, Variant.Model, the
	// CLI's --model and models.Model.
	Name string
	// Mirrors is the server it mirrors: "Apache prefork".
	Mirrors string
	// Help says what it runs, in a line: the CLI's help and the form's
	// title.
	Help string
	// Lane is what one lane of a worker process is (a scoreboard slot's
	// unit, a row of the view's timeline): "process", "thread", "loop".
	Lane string
	// Threads says the lanes are OS threads of one process, each an
	// instance of its own; Loop that a lane is a cooperative loop serving
	// every connection of its process (loop lag, passes, stub_status).
	Threads, Loop bool
	// Processes and Lanes name the knobs of its size: the most worker
	// processes at once, and the guest instances (threads, or a loop) of
	// each ("": one). A model starts at most Processes × Lanes guest
	// instances (Instances).
	Processes, Lanes string
	// PinsLane says whether a keep-alive connection holds its lane while
	// it is idle between requests (Apache prefork's process, worker's
	// thread), so that idle clients can starve new ones: keep-alive
	// pinning, which the playground looks for under these models.
	PinsLane bool
	// Color is the model's colour in the view and the compare table, a CSS
	// colour for the light and the dark theme: the page sets it as the
	// custom property --c-<Name>.
	Color string
}

// ModelTable is every model the engine runs, in the order Compare runs
// them ("all").
var ModelTable = []ModelSpec{
	{Name: "process", Mirrors: "Apache prefork", Help: "worker processes with one instance each, one connection each",
		Lane: "process", Processes: "max_request_workers", PinsLane: true, Color: "light-dark(#8b3fd9, #b98cff)"},
	{Name: "thread", Mirrors: "Apache worker", Help: "processes with threads, an instance and a connection per thread",
		Lane: "thread", Threads: true, Processes: "processes", Lanes: "threads_per_child", PinsLane: true, Color: "light-dark(#2f9e6e, #3fbf86)"},
	{Name: "reactor", Mirrors: "nginx, node", Help: "one event loop per process, every connection in one instance",
		Lane: "loop", Loop: true, Processes: "loops", Color: "light-dark(#d9480f, #ff8a4c)"},
	{Name: "event", Mirrors: "Apache event", Help: "worker's processes and threads, plus a listener per process that holds idle keep-alive connections; a thread serves a request, not a connection",
		Lane: "thread", Threads: true, Processes: "processes", Lanes: "threads_per_child", Color: "light-dark(#0b7285, #3bc9db)"},
}

// AllModels is the Experiment.Model that runs every model of ModelTable
// in turn (Compare).
const AllModels = "all"

// ModelNames returns the names of ModelTable's models, in order.
func ModelNames() []string {
	names := make([]string, len(ModelTable))
	for i := range ModelTable {
		names[i] = ModelTable[i].Name
	}
	return names
}

// ModelNamed returns the model named name, or nil.
func ModelNamed(name string) *ModelSpec {
	for i := range ModelTable {
		if ModelTable[i].Name == name {
			return &ModelTable[i]
		}
	}
	return nil
}

// ModelList says the models for a message: "process, thread, reactor or
// event", with extra (such as AllModels) last.
func ModelList(extra ...string) string {
	names := append(ModelNames(), extra...)
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Title is the model's label in the form: "process — Apache prefork".
func (m *ModelSpec) Title() string { return m.Name + " — " + m.Mirrors }

// LaneLabel names a lane as guest.Worker and the view do: "process 3",
// "thread 3.1", "loop 3".
func (m *ModelSpec) LaneLabel(process, lane int) string {
	if m.Threads {
		return fmt.Sprintf("%s %d.%d", m.Lane, process, lane)
	}
	return fmt.Sprintf("%s %d", m.Lane, process)
}

// ProcessesOf returns the most worker processes the model starts under
// the normalized knobs k.
func (m *ModelSpec) ProcessesOf(k Knobs) int { return *KnobNamed(m.Processes).Int(&k) }

// LanesOf returns the guest instances of each worker process under the
// normalized knobs k.
func (m *ModelSpec) LanesOf(k Knobs) int {
	if m.Lanes == "" {
		return 1
	}
	return *KnobNamed(m.Lanes).Int(&k)
}

// Instances returns the most guest instances the model starts under the
// normalized knobs k: ProcessesOf × LanesOf.
func (m *ModelSpec) Instances(k Knobs) int { return m.ProcessesOf(k) * m.LanesOf(k) }

// instanceKnobs spells out Instances for an error message:
// "knobs.processes 4 × knobs.threads_per_child 64".
func (m *ModelSpec) instanceKnobs(k Knobs) string {
	s := fmt.Sprintf("knobs.%s %d", m.Processes, m.ProcessesOf(k))
	if m.Lanes != "" {
		s += fmt.Sprintf(" × knobs.%s %d", m.Lanes, m.LanesOf(k))
	}
	return s
}
