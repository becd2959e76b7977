// Package kubetest runs intake's Kubernetes objects against a real API
// server without a container runtime: a stand-in kubelet binds the pods of
// one namespace and runs intake's containers as local processes of the
// intake binary, with the pod's arguments and environment, and reports their
// phase back; every other pod is bound to a kwok node, which fakes it.
//
// It exists for tests (deploy/helm) and runs only on loopback: container
// ports are remapped to free 127.0.0.1 ports, in-cluster Service names in
// arguments and environment values are rewritten to the loopback address of
// a ready pod behind the Service, and a pod whose arguments or environment
// still name a host that is not an IP address is failed before it starts,
// so that nothing it runs resolves a name through DNS.
package kubetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// KwokNode is the node kube-local.sh registers for kwok; pods that are not
// intake's are bound to it.
const KwokNode = "kwok-node"

// Config configures a Kubelet.
type Config struct {
	// Client talks to the API server.
	Client kubernetes.Interface
	// Namespace is the only namespace whose pods the kubelet binds and runs.
	Namespace string
	// Node is the name of the node the kubelet registers and binds intake's
	// pods to.
	Node string
	// Binary is the intake binary that runs every intake container (the
	// images' entrypoint is /intake).
	Binary string
	// Images reports whether an image reference is one of intake's images.
	Images func(image string) bool
	// Dir holds each pod's volumes, working directory and log.
	Dir string
	// Logger receives the kubelet's own events.
	Logger *slog.Logger
	// Sync is how often the kubelet lists pods; default 250ms.
	Sync time.Duration
}

// Kubelet is a stand-in kubelet for one namespace. Start it with Run.
type Kubelet struct {
	cfg Config

	mu   sync.Mutex
	pods map[string]*podRun // by pod UID
}

// PodInfo describes a pod the kubelet runs.
type PodInfo struct {
	Name      string
	Labels    map[string]string
	Ready     bool
	Done      bool
	ExitCode  int
	Ports     map[int32]int // container port → 127.0.0.1 port
	LogPath   string
	StartedAt time.Time
	EndedAt   time.Time
}

// podRun is the state of one pod the kubelet runs.
type podRun struct {
	uid       string
	name      string
	labels    map[string]string
	dir       string
	logPath   string
	ports     map[int32]int
	portNames map[string]int32
	ready     bool
	done      bool
	exitCode  int
	restarts  int32
	started   time.Time
	ended     time.Time
	cancel    context.CancelFunc
	finished  chan struct{}
}

// New returns a Kubelet; it does nothing until Run.
func New(cfg Config) *Kubelet {
	if cfg.Sync == 0 {
		cfg.Sync = 250 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Kubelet{cfg: cfg, pods: map[string]*podRun{}}
}

// Run registers the node and binds, runs and reports pods until ctx ends;
// then it stops every process it started, removes the node and returns.
func (k *Kubelet) Run(ctx context.Context) error {
	if err := k.registerNode(ctx); err != nil {
		return err
	}
	t := time.NewTicker(k.cfg.Sync)
	defer t.Stop()
	for {
		if err := k.sync(ctx); err != nil && ctx.Err() == nil {
			k.cfg.Logger.Warn("kubelet sync", "err", err)
		}
		select {
		case <-ctx.Done():
			k.stopAll()
			dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := k.cfg.Client.CoreV1().Nodes().Delete(dctx, k.cfg.Node, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("remove node %s: %w", k.cfg.Node, err)
			}
			return nil
		case <-t.C:
		}
	}
}

// Pods returns the pods the kubelet has started, by name.
func (k *Kubelet) Pods() map[string]PodInfo {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[string]PodInfo, len(k.pods))
	for _, p := range k.pods {
		ports := make(map[int32]int, len(p.ports))
		for c, h := range p.ports {
			ports[c] = h
		}
		out[p.name] = PodInfo{
			Name: p.name, Labels: p.labels, Ready: p.ready, Done: p.done, ExitCode: p.exitCode,
			Ports: ports, LogPath: p.logPath, StartedAt: p.started, EndedAt: p.ended,
		}
	}
	return out
}

// Endpoint returns the loopback address of a ready pod that the selector
// matches and that listens on containerPort, or "" when there is none.
func (k *Kubelet) Endpoint(selector map[string]string, containerPort int32) string {
	sel := labels.SelectorFromSet(selector)
	k.mu.Lock()
	defer k.mu.Unlock()
	names := make([]string, 0, len(k.pods))
	byName := map[string]*podRun{}
	for _, p := range k.pods {
		names = append(names, p.name)
		byName[p.name] = p
	}
	sort.Strings(names)
	for _, n := range names {
		p := byName[n]
		if p.ready && !p.done && sel.Matches(labels.Set(p.labels)) {
			if h, ok := p.ports[containerPort]; ok {
				return net.JoinHostPort("127.0.0.1", strconv.Itoa(h))
			}
		}
	}
	return ""
}

func (k *Kubelet) registerNode(ctx context.Context) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   k.cfg.Node,
			Labels: map[string]string{"kubernetes.io/hostname": k.cfg.Node, "kubernetes.io/os": "linux"},
		},
	}
	_, err := k.cfg.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register node %s: %w", k.cfg.Node, err)
	}
	// Other controllers annotate new nodes too: retry on a conflict.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := k.cfg.Client.CoreV1().Nodes().Get(ctx, k.cfg.Node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		n.Status.Conditions = []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			Message: "stand-in kubelet (intake tests)", LastHeartbeatTime: now, LastTransitionTime: now,
		}}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
		_, err = k.cfg.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("node %s status: %w", k.cfg.Node, err)
	}
	return nil
}

// sync binds new pods, starts the ones bound here, and handles deletions.
func (k *Kubelet) sync(ctx context.Context) error {
	list, err := k.cfg.Client.CoreV1().Pods(k.cfg.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	for i := range list.Items {
		pod := &list.Items[i]
		switch {
		case pod.Spec.NodeName == "":
			k.bind(ctx, pod)
		case pod.Spec.NodeName != k.cfg.Node:
			// kwok's
		case pod.DeletionTimestamp != nil:
			k.delete(ctx, pod)
		default:
			k.ensureRunning(ctx, pod)
		}
	}
	return nil
}

// intake reports whether every container of the pod runs an intake image.
func (k *Kubelet) intake(pod *corev1.Pod) bool {
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if !k.cfg.Images(c.Image) {
			return false
		}
	}
	return true
}

func (k *Kubelet) bind(ctx context.Context, pod *corev1.Pod) {
	node := KwokNode
	if k.intake(pod) {
		node = k.cfg.Node
	}
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
	err := k.cfg.Client.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{})
	if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		k.cfg.Logger.Warn("bind", "pod", pod.Name, "err", err)
		return
	}
	k.cfg.Logger.Info("bound", "pod", pod.Name, "node", node)
}

func (k *Kubelet) delete(ctx context.Context, pod *corev1.Pod) {
	k.mu.Lock()
	p := k.pods[string(pod.UID)]
	k.mu.Unlock()
	if p != nil {
		p.cancel()
		select {
		case <-p.finished:
		case <-time.After(45 * time.Second):
		}
	}
	zero := int64(0)
	err := k.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		k.cfg.Logger.Warn("delete", "pod", pod.Name, "err", err)
	}
}

func (k *Kubelet) ensureRunning(ctx context.Context, pod *corev1.Pod) {
	k.mu.Lock()
	_, known := k.pods[string(pod.UID)]
	k.mu.Unlock()
	if known || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return
	}
	dir := filepath.Join(k.cfg.Dir, pod.Name+"-"+string(pod.UID)[:8])
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &podRun{
		uid: string(pod.UID), name: pod.Name, labels: pod.Labels, dir: dir,
		logPath: filepath.Join(dir, "log"), ports: map[int32]int{}, portNames: map[string]int32{},
		cancel: cancel, finished: make(chan struct{}), started: time.Now(),
	}
	k.mu.Lock()
	k.pods[p.uid] = p
	k.mu.Unlock()
	go func() {
		defer close(p.finished)
		k.runPod(runCtx, ctx, pod.DeepCopy(), p)
	}()
}

// stopAll stops every process and waits for them.
func (k *Kubelet) stopAll() {
	k.mu.Lock()
	runs := make([]*podRun, 0, len(k.pods))
	for _, p := range k.pods {
		runs = append(runs, p)
	}
	k.mu.Unlock()
	for _, p := range runs {
		p.cancel()
	}
	for _, p := range runs {
		<-p.finished
	}
}

// runPod prepares the pod's volumes and ports, runs its init containers in
// order and then its one main container, restarting it when the pod's
// restart policy says so, and reports every transition.
func (k *Kubelet) runPod(ctx, apiCtx context.Context, pod *corev1.Pod, p *podRun) {
	log := k.cfg.Logger.With("pod", pod.Name)
	if len(pod.Spec.Containers) != 1 {
		k.finish(apiCtx, pod, p, 1, "stand-in runs pods of exactly one container")
		return
	}
	if err := os.MkdirAll(p.dir, 0o750); err != nil {
		k.finish(apiCtx, pod, p, 1, err.Error())
		return
	}
	mounts, err := k.volumes(apiCtx, pod, p.dir)
	if err != nil {
		k.finish(apiCtx, pod, p, 1, err.Error())
		return
	}
	c := pod.Spec.Containers[0]
	for _, port := range c.Ports {
		h, err := freePort()
		if err != nil {
			k.finish(apiCtx, pod, p, 1, err.Error())
			return
		}
		k.mu.Lock()
		p.ports[port.ContainerPort] = h
		if port.Name != "" {
			p.portNames[port.Name] = port.ContainerPort
		}
		k.mu.Unlock()
	}
	k.report(apiCtx, pod, p, corev1.PodPending, nil)

	for _, ic := range pod.Spec.InitContainers {
		for {
			code, msg := k.runContainer(ctx, apiCtx, pod, p, ic, mounts, false)
			if ctx.Err() != nil {
				k.finish(apiCtx, pod, p, 137, "stopped")
				return
			}
			if code == 0 {
				break
			}
			if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				k.finish(apiCtx, pod, p, code, "init container "+ic.Name+": "+msg)
				return
			}
			log.Info("init container failed; retrying", "container", ic.Name, "exit", code)
			select {
			case <-ctx.Done():
				k.finish(apiCtx, pod, p, 137, "stopped")
				return
			case <-time.After(2 * time.Second):
			}
		}
	}
	for {
		code, msg := k.runContainer(ctx, apiCtx, pod, p, c, mounts, true)
		stopped := ctx.Err() != nil
		restart := !stopped && (pod.Spec.RestartPolicy == corev1.RestartPolicyAlways ||
			(pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && code != 0))
		if !restart {
			k.finish(apiCtx, pod, p, code, msg)
			return
		}
		k.mu.Lock()
		p.restarts++
		p.ready = false
		k.mu.Unlock()
		log.Info("container exited; restarting", "exit", code)
		select {
		case <-ctx.Done():
			k.finish(apiCtx, pod, p, 137, "stopped")
			return
		case <-time.After(time.Second):
		}
	}
}

// runContainer runs one container to its end and returns its exit code.
func (k *Kubelet) runContainer(ctx, apiCtx context.Context, pod *corev1.Pod, p *podRun, c corev1.Container, mounts map[string]string, main bool) (int, string) {
	env, err := k.env(apiCtx, pod, c, p, mounts)
	if err != nil {
		return 1, err.Error()
	}
	args := make([]string, 0, len(c.Command)+len(c.Args))
	for _, a := range append(append([]string{}, c.Command...), c.Args...) {
		args = append(args, k.rewrite(a, p, mounts))
	}
	if len(c.Command) > 0 && c.Command[0] == "/intake" {
		args = args[1:]
	}
	if err := refuseNames(args, env); err != nil {
		return 1, err.Error()
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 1, err.Error()
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- %s: %s %s\n", c.Name, k.cfg.Binary, strings.Join(args, " "))
	// The pod's termination (SIGTERM to the group, then SIGKILL after the
	// grace period) is handled below, not by a context.
	cmd := exec.Command(k.cfg.Binary, args...) //nolint:gosec,noctx // the test's own intake binary, with the pod's arguments
	cmd.Env = env
	cmd.Dir = p.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return 1, err.Error()
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if main {
		k.report(apiCtx, pod, p, corev1.PodRunning, nil)
	}
	probe := time.NewTicker(500 * time.Millisecond)
	defer probe.Stop()
	for {
		select {
		case err := <-done:
			return exitCode(err), exitMessage(err)
		case <-ctx.Done():
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			grace := 30 * time.Second
			if pod.Spec.TerminationGracePeriodSeconds != nil {
				grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
			}
			select {
			case err := <-done:
				return exitCode(err), "terminated"
			case <-time.After(grace):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				return exitCode(<-done), "killed after the grace period"
			}
		case <-probe.C:
			if main && c.ReadinessProbe != nil {
				ready := k.probe(p, c.ReadinessProbe)
				k.mu.Lock()
				changed := ready != p.ready
				p.ready = ready
				k.mu.Unlock()
				if changed {
					k.report(apiCtx, pod, p, corev1.PodRunning, nil)
				}
			} else if main && c.ReadinessProbe == nil {
				k.mu.Lock()
				changed := !p.ready
				p.ready = true
				k.mu.Unlock()
				if changed {
					k.report(apiCtx, pod, p, corev1.PodRunning, nil)
				}
			}
		}
	}
}

// probe runs an HTTP readiness probe against the pod's loopback port.
func (k *Kubelet) probe(p *podRun, pr *corev1.Probe) bool {
	if pr.HTTPGet == nil {
		return true
	}
	k.mu.Lock()
	port := pr.HTTPGet.Port.IntVal
	if pr.HTTPGet.Port.StrVal != "" {
		port = p.portNames[pr.HTTPGet.Port.StrVal]
	}
	host := p.ports[port]
	k.mu.Unlock()
	if host == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", host, pr.HTTPGet.Path), nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}

// finish records the pod's end and reports its terminal phase.
func (k *Kubelet) finish(apiCtx context.Context, pod *corev1.Pod, p *podRun, code int, msg string) {
	k.mu.Lock()
	p.done, p.ready, p.exitCode, p.ended = true, false, code, time.Now()
	k.mu.Unlock()
	phase := corev1.PodSucceeded
	if code != 0 {
		phase = corev1.PodFailed
	}
	if msg != "" && code != 0 {
		k.cfg.Logger.Info("pod failed", "pod", pod.Name, "exit", code, "reason", msg)
	}
	k.report(apiCtx, pod, p, phase, &corev1.ContainerStateTerminated{
		ExitCode: int32(code), Reason: reason(code), Message: msg,
		StartedAt: metav1.NewTime(p.started), FinishedAt: metav1.Now(),
	})
}

func reason(code int) string {
	if code == 0 {
		return "Completed"
	}
	return "Error"
}

// report writes the pod's status.
func (k *Kubelet) report(apiCtx context.Context, pod *corev1.Pod, p *podRun, phase corev1.PodPhase, term *corev1.ContainerStateTerminated) {
	if apiCtx.Err() != nil {
		return
	}
	k.mu.Lock()
	ready, restarts, started := p.ready, p.restarts, p.started
	k.mu.Unlock()
	cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		return corev1.PodCondition{Type: t, Status: s, LastTransitionTime: metav1.Now()}
	}
	st := corev1.ContainerStatus{
		Name: pod.Spec.Containers[0].Name, Image: pod.Spec.Containers[0].Image,
		ImageID: pod.Spec.Containers[0].Image, Ready: ready, RestartCount: restarts,
	}
	running := phase == corev1.PodRunning
	st.Started = &running
	switch {
	case term != nil:
		st.State.Terminated = term
	case running:
		st.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}
	default:
		st.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	}
	startTime := metav1.NewTime(started)
	for attempt := 0; attempt < 5; attempt++ {
		cur, err := k.cfg.Client.CoreV1().Pods(pod.Namespace).Get(apiCtx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return
		}
		if cur.UID != pod.UID || cur.Status.Phase == corev1.PodSucceeded || cur.Status.Phase == corev1.PodFailed {
			return
		}
		cur.Status.Phase = phase
		cur.Status.HostIP = "127.0.0.1"
		cur.Status.HostIPs = []corev1.HostIP{{IP: "127.0.0.1"}}
		cur.Status.StartTime = &startTime
		cur.Status.Conditions = []corev1.PodCondition{
			cond(corev1.PodScheduled, true),
			cond(corev1.PodInitialized, phase != corev1.PodPending),
			cond(corev1.ContainersReady, ready),
			cond(corev1.PodReady, ready),
		}
		cur.Status.ContainerStatuses = []corev1.ContainerStatus{st}
		_, err = k.cfg.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(apiCtx, cur, metav1.UpdateOptions{})
		if err == nil || !apierrors.IsConflict(err) {
			if err != nil {
				k.cfg.Logger.Warn("pod status", "pod", pod.Name, "err", err)
			}
			return
		}
	}
}

// volumes materialises the pod's Secret, ConfigMap and emptyDir volumes
// under dir and returns mount path → local path for the main container's
// mounts (the same paths serve its init containers).
func (k *Kubelet) volumes(ctx context.Context, pod *corev1.Pod, dir string) (map[string]string, error) {
	local := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		path := filepath.Join(dir, "volumes", v.Name)
		if err := os.MkdirAll(path, 0o750); err != nil {
			return nil, err
		}
		switch {
		case v.Secret != nil:
			s, err := k.cfg.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("volume %s: secret %s: %w", v.Name, v.Secret.SecretName, err)
			}
			for key, val := range s.Data {
				if err := os.WriteFile(filepath.Join(path, key), val, 0o600); err != nil {
					return nil, err
				}
			}
		case v.ConfigMap != nil:
			cm, err := k.cfg.Client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("volume %s: configmap %s: %w", v.Name, v.ConfigMap.Name, err)
			}
			for key, val := range cm.Data {
				if err := os.WriteFile(filepath.Join(path, key), []byte(val), 0o600); err != nil {
					return nil, err
				}
			}
		case v.EmptyDir != nil:
		default:
			return nil, fmt.Errorf("volume %s: the stand-in kubelet supports secret, configMap and emptyDir volumes", v.Name)
		}
		local[v.Name] = path
	}
	mounts := map[string]string{}
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		for _, m := range c.VolumeMounts {
			p, ok := local[m.Name]
			if !ok {
				return nil, fmt.Errorf("container %s mounts unknown volume %s", c.Name, m.Name)
			}
			if m.SubPath != "" {
				p = filepath.Join(p, m.SubPath)
			}
			mounts[m.MountPath] = p
		}
	}
	return mounts, nil
}

// env resolves the container's environment as the kubelet would, then
// rewrites mount paths, container ports and Service names to local ones.
func (k *Kubelet) env(ctx context.Context, pod *corev1.Pod, c corev1.Container, p *podRun, mounts map[string]string) ([]string, error) {
	vars := map[string]string{}
	var order []string
	set := func(name, value string) {
		if _, ok := vars[name]; !ok {
			order = append(order, name)
		}
		vars[name] = value
	}
	core := k.cfg.Client.CoreV1()
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := core.ConfigMaps(pod.Namespace).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("envFrom configmap %s: %w", from.ConfigMapRef.Name, err)
			}
			for key, v := range cm.Data {
				set(from.Prefix+key, v)
			}
		case from.SecretRef != nil:
			s, err := core.Secrets(pod.Namespace).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("envFrom secret %s: %w", from.SecretRef.Name, err)
			}
			for key, v := range s.Data {
				set(from.Prefix+key, string(v))
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expandEnv(e.Value, vars))
			continue
		}
		switch vf := e.ValueFrom; {
		case vf.FieldRef != nil:
			switch vf.FieldRef.FieldPath {
			case "metadata.name":
				set(e.Name, pod.Name)
			case "metadata.namespace":
				set(e.Name, pod.Namespace)
			case "spec.nodeName":
				set(e.Name, k.cfg.Node)
			default:
				return nil, fmt.Errorf("env %s: fieldRef %s is not supported", e.Name, vf.FieldRef.FieldPath)
			}
		case vf.SecretKeyRef != nil:
			s, err := core.Secrets(pod.Namespace).Get(ctx, vf.SecretKeyRef.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("env %s: secret %s: %w", e.Name, vf.SecretKeyRef.Name, err)
			}
			set(e.Name, string(s.Data[vf.SecretKeyRef.Key]))
		case vf.ConfigMapKeyRef != nil:
			cm, err := core.ConfigMaps(pod.Namespace).Get(ctx, vf.ConfigMapKeyRef.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("env %s: configmap %s: %w", e.Name, vf.ConfigMapKeyRef.Name, err)
			}
			set(e.Name, cm.Data[vf.ConfigMapKeyRef.Key])
		default:
			return nil, fmt.Errorf("env %s: unsupported valueFrom", e.Name)
		}
	}
	env := []string{"HOME=" + p.dir, "TMPDIR=" + p.dir, "PATH=/usr/bin:/bin"}
	for _, name := range order {
		env = append(env, name+"="+k.rewrite(vars[name], p, mounts))
	}
	return env, nil
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expandEnv expands $(VAR) references as the kubelet does.
func expandEnv(s string, vars map[string]string) string {
	return envRef.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := vars[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// listenAddr matches the listen addresses intake's images set.
var listenAddr = regexp.MustCompile(`^(0\.0\.0\.0)?:([0-9]+)$`)

// rewrite maps one argument or environment value to the local machine:
// mount paths to their directories, a listen address on a container port to
// its loopback port, and SERVICE[.NAMESPACE[.svc[.cluster.local]]]:PORT to
// the loopback address of a ready pod behind the Service.
func (k *Kubelet) rewrite(v string, p *podRun, mounts map[string]string) string {
	paths := make([]string, 0, len(mounts))
	for m := range mounts {
		paths = append(paths, m)
	}
	sort.Slice(paths, func(i, j int) bool { return len(paths[i]) > len(paths[j]) })
	for _, m := range paths {
		if v == m || strings.HasPrefix(v, m+"/") {
			return mounts[m] + strings.TrimPrefix(v, m)
		}
	}
	if mm := listenAddr.FindStringSubmatch(v); mm != nil {
		port, err := strconv.ParseInt(mm[2], 10, 32)
		if err != nil {
			return v
		}
		k.mu.Lock()
		h, ok := p.ports[int32(port)]
		k.mu.Unlock()
		if ok {
			return fmt.Sprintf("127.0.0.1:%d", h)
		}
		return "127.0.0.1:" + mm[2]
	}
	return k.rewriteServices(v)
}

var hostPort = regexp.MustCompile(`([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9-]+(\.svc(\.cluster\.local)?)?)?:([0-9]+)`)

func (k *Kubelet) rewriteServices(v string) string {
	return hostPort.ReplaceAllStringFunc(v, func(m string) string {
		sm := hostPort.FindStringSubmatch(m)
		name, suffix := sm[1], sm[3]
		if suffix != "" && !strings.HasPrefix(suffix, "."+k.cfg.Namespace) {
			return m
		}
		port, _ := strconv.Atoi(sm[6])
		svc, err := k.cfg.Client.CoreV1().Services(k.cfg.Namespace).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return m
		}
		for _, sp := range svc.Spec.Ports {
			if int(sp.Port) != port {
				continue
			}
			target := sp.TargetPort.IntVal
			if sp.TargetPort.StrVal != "" {
				target = k.namedPort(svc.Spec.Selector, sp.TargetPort.StrVal)
			}
			if ep := k.Endpoint(svc.Spec.Selector, target); ep != "" {
				return ep
			}
		}
		return m
	})
}

// namedPort resolves a named container port of the pods a selector matches.
func (k *Kubelet) namedPort(selector map[string]string, name string) int32 {
	sel := labels.SelectorFromSet(selector)
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.pods {
		if sel.Matches(labels.Set(p.labels)) {
			if port, ok := p.portNames[name]; ok {
				return port
			}
		}
	}
	return 0
}

var urlHost = regexp.MustCompile(`^[a-z][a-z0-9+.-]*://(?:[^@/]*@)?([^/:?#]+)`)

// refuseNames fails a pod whose arguments or environment still name a host
// by name: nothing it runs may resolve a name through DNS here.
func refuseNames(args, env []string) error {
	check := func(what, v string) error {
		for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
			part = strings.TrimPrefix(part, "BlobEndpoint=")
			m := urlHost.FindStringSubmatch(part)
			if m == nil {
				continue
			}
			host := strings.Trim(m[1], "[]")
			if host == "localhost" || net.ParseIP(host) != nil {
				continue
			}
			return fmt.Errorf("stand-in kubelet: %s names host %q; only IP addresses may be dialled here", what, host)
		}
		return nil
	}
	for _, a := range args {
		if err := check("argument", a); err != nil {
			return err
		}
	}
	for _, kv := range env {
		name, v, _ := strings.Cut(kv, "=")
		if err := check("env "+name, v); err != nil {
			return err
		}
		if strings.HasSuffix(name, "_FILE") {
			b, err := os.ReadFile(v)
			if err == nil {
				if err := check("file "+name, strings.TrimSpace(string(b))); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func freePort() (int, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 1
}

func exitMessage(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
