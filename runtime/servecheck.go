package runtime

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"

	"github.com/mpmlab/mpmlab/wasm/experiment"
)

// guestImport is the import path of the guest SDK, whose Serve a handler's
// main must call.
const guestImport = "github.com/mpmlab/mpmlab/wasm/guest"

// checkServe returns a diagnostic if the handler's main never reaches
// guest.Serve, and nil if it does or if the check cannot tell (a file that
// does not parse, no main: the compiler says why).
//
// Without guest.Serve a handler's main returns at once, and its worker
// exits with code 0 again and again, while every request waits in the
// accept queue; with http.ListenAndServe instead, it serves a port that no
// request reaches (and that wasip1 cannot open). Either way nothing can
// answer, so the build refuses it, at the line to change.
//
// # How it decides
//
// From main, the init functions and the package's variable initialisers,
// it follows every reference to a function of the package (a call, a go or
// defer statement, a function value) and to any method of the same name as
// one the package declares, and looks for a reference to guest.Serve (under
// the name it is imported as, or a dot import). It is generous: a reference
// is enough, whatever the control flow, so a handler that reaches Serve
// through its own helpers, methods or closures passes.
func checkServe(src experiment.Source) *Diagnostic {
	fset := token.NewFileSet()
	var files []*ast.File
	for _, f := range src.Files {
		file, err := parser.ParseFile(fset, f.Name, f.Data, parser.SkipObjectResolution)
		if err != nil {
			return nil
		}
		files = append(files, file)
	}

	// A body of the package: a function, a method or a variable's
	// initialiser, with the file it is in.
	type body struct {
		node ast.Node
		file *ast.File
	}
	funcs := map[string]body{}     // package-level functions by name
	methods := map[string][]body{} // methods by name, whatever the receiver
	var roots []body
	var main *ast.FuncDecl
	for _, file := range files {
		for _, decl := range file.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Body == nil {
					continue
				}
				b := body{d.Body, file}
				switch {
				case d.Recv != nil:
					methods[d.Name.Name] = append(methods[d.Name.Name], b)
				case d.Name.Name == "init":
					roots = append(roots, b)
				default:
					funcs[d.Name.Name] = b
					if d.Name.Name == "main" {
						main = d
						roots = append(roots, b)
					}
				}
			case *ast.GenDecl:
				if d.Tok == token.VAR {
					roots = append(roots, body{d, file})
				}
			}
		}
	}
	if main == nil {
		return nil
	}

	imported := false
	var listen ast.Node // the first http.ListenAndServe (or the like) reached
	visited := map[ast.Node]bool{}
	queue := roots
	for len(queue) > 0 {
		b := queue[0]
		queue = queue[1:]
		if visited[b.node] {
			continue
		}
		visited[b.node] = true
		guest, dot := guestName(b.file)
		imported = imported || guest != "" || dot
		served := false
		ast.Inspect(b.node, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && guest != "" && x.Name == guest && n.Sel.Name == "Serve" {
					served = true
					break
				}
				if listensItself(n.Sel.Name) && listen == nil {
					listen = n // http.ListenAndServe, or an http.Server's
				}
				queue = append(queue, methods[n.Sel.Name]...)
			case *ast.Ident:
				if dot && n.Name == "Serve" && funcs["Serve"].node == nil {
					served = true
				}
				if f, ok := funcs[n.Name]; ok {
					queue = append(queue, f)
				}
			}
			return !served
		})
		if served {
			return nil
		}
	}

	d := &Diagnostic{Message: "main never calls guest.Serve: call guest.Serve(nil) at the end of main (http.ListenAndServe does not work here)"}
	if !imported {
		d.Message += `, importing "` + guestImport + `"`
	}
	pos := fset.Position(main.Name.Pos())
	if listen != nil {
		pos = fset.Position(listen.Pos())
	}
	d.File, d.Line, d.Col = pos.Filename, pos.Line, pos.Column
	return d
}

// guestName returns the name under which file imports the guest SDK (""
// if it does not), and whether it dot-imports it.
func guestName(file *ast.File) (name string, dot bool) {
	for _, imp := range file.Imports {
		if path, err := strconv.Unquote(imp.Path.Value); err != nil || path != guestImport {
			continue
		}
		switch {
		case imp.Name == nil:
			name = "guest"
		case imp.Name.Name == ".":
			dot = true
		case imp.Name.Name != "_":
			name = imp.Name.Name
		}
	}
	return name, dot
}

// listensItself reports whether name is one of net/http's ways of serving
// on a socket of the program's own.
func listensItself(name string) bool {
	switch name {
	case "ListenAndServe", "ListenAndServeTLS", "Serve", "ServeTLS":
		return true
	}
	return false
}
