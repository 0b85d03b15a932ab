// Max pooling over a depthwise sliding window, AXI-stream in and out (FINN's Pool, Function MaxPool).
//
// Written for this project because finn-plus 1.6.1 implements Pool only in HLS (Pool_hls, which
// needs Vitis HLS to become RTL), so a network with MaxPool could neither be verilated nor built
// from RTL alone. The stream order is finn-hlslib's Pool_batch on a depthwise
// ConvolutionInputGenerator's output: per output pixel, for each channel fold f (CF = C/PE folds),
// for each kernel position k (K positions), one beat of PE elements; per output pixel, for each fold,
// one beat of PE maxima. Element 0 sits in the lowest ELEM_BITS bits of a beat.
//
// Since the kernel position is the innermost loop, one running maximum per lane suffices. One input
// beat is taken per cycle; the last kernel position of a fold writes the output register, which
// may only be overwritten when it is empty or drained in the same cycle (in_tready depends on
// out_tready combinationally, as for any output register; no path from a ready to a valid).
module pool_rtl #(
	int unsigned PE = 1,         // elements per beat
	int unsigned ELEM_BITS = 8,  // bits per element
	bit          SIGNED = 0,     // elements are two's complement
	int unsigned K = 4           // kernel positions per output (KernelSize product)
)(
	input	logic  clk,
	input	logic  rst_n,  // synchronous, active low

	input	logic [PE*ELEM_BITS-1:0]  in_tdata,
	input	logic  in_tvalid,
	output	logic  in_tready,

	output	logic [PE*ELEM_BITS-1:0]  out_tdata,
	output	logic  out_tvalid,
	input	logic  out_tready
);
	localparam int unsigned  KBITS = K > 1 ? $clog2(K) : 1;
	localparam int unsigned  LAST_K = K - 1;

	typedef logic [ELEM_BITS-1:0]  elem_t;

	function automatic logic greater(input elem_t a, input elem_t b);
		return SIGNED ? ($signed(a) > $signed(b)) : (a > b);
	endfunction

	logic [KBITS-1:0]  kpos;  // kernel position of the next input beat
	elem_t  acc[PE];  // running maxima of the current fold
	elem_t  res[PE];  // maxima including the current beat
	logic  ovalid;
	logic [PE*ELEM_BITS-1:0]  odata;

	wire  last_k = kpos == KBITS'(LAST_K);
	assign	in_tready = !last_k || !ovalid || out_tready;
	wire  take = in_tvalid && in_tready;

	always_comb begin
		for (int unsigned i = 0; i < PE; i++) begin
			automatic elem_t  x = in_tdata[i*ELEM_BITS +: ELEM_BITS];
			res[i] = (kpos == 0) || greater(x, acc[i]) ? x : acc[i];
		end
	end

	always_ff @(posedge clk) begin
		if (!rst_n) begin
			kpos <= '0;
			ovalid <= 1'b0;
		end
		else begin
			if (out_tready)  ovalid <= 1'b0;
			if (take) begin
				kpos <= last_k ? '0 : kpos + 1;
				if (last_k)  ovalid <= 1'b1;
			end
		end
	end

	always_ff @(posedge clk) begin
		if (take) begin
			for (int unsigned i = 0; i < PE; i++)  acc[i] <= res[i];
			if (last_k) begin
				for (int unsigned i = 0; i < PE; i++)  odata[i*ELEM_BITS +: ELEM_BITS] <= res[i];
			end
		end
	end

	assign	out_tvalid = ovalid;
	assign	out_tdata = odata;

endmodule : pool_rtl
