// A two-beat output queue, AXI-stream out, for a core that pushes its results one beat at a time
// (global_max_pool.sv).
//
// `room` (fewer than two beats queued) is a register function, so the core's in_tready, which waits for
// room before it pushes, has no combinational path from out_tready; under back-pressure results queue up
// while the core reads on, to leave in bursts. A pop shifts q[1] to the head; a push fills the first
// place free after it.
module output_queue #(
	int unsigned WIDTH = 8  // bits per beat
)(
	input	logic  clk,
	input	logic  rst_n,  // synchronous, active low

	input	logic [WIDTH-1:0]  push_data,
	input	logic  push,  // only while room
	output	logic  room,

	output	logic [WIDTH-1:0]  out_tdata,
	output	logic  out_tvalid,
	input	logic  out_tready
);
	localparam int unsigned  DEPTH = 2;

	logic [WIDTH-1:0]  q[DEPTH];  // head q[0]
	logic [1:0]  count;  // beats in the queue

	wire  pop = out_tvalid && out_tready;
	assign	room = count < 2'(DEPTH);

	always_ff @(posedge clk) begin
		if (!rst_n)  count <= '0;
		else  count <= count + 2'(push) - 2'(pop);
	end

	always_ff @(posedge clk) begin
		if (pop)  q[0] <= q[1];
		if (push) begin
			if (count - 2'(pop) == 2'd0)  q[0] <= push_data;
			else  q[1] <= push_data;
		end
	end

	assign	out_tvalid = count != 0;
	assign	out_tdata = q[0];

endmodule : output_queue
